"""dense_comp: NetX's ComplexDense, a dense layer with two weight matrices
(`weight/real`, `weight/imag`, each (out, in)) feeding the two currents of a
resonate-and-fire neuron (lava_msf.neurons.rf):
  a_re = W_re flatten(x),  a_im = W_im flatten(x)   (spikes in, one exponent)
In a file it is a `dense` group whose `weight` is a group (SLAYER writes it so,
stock NetX builds ComplexDense from it; NetX's own `dense_comp` type name
crashes stock NetX, which has no create_complex_dense: lava-msf reads it too
and writes `dense`). NetX gives the neuron no bias and ignores `delay`:
lava-msf refuses both keys. Stock NetX rescales each matrix by itself: a plain
NetX file is read only where that is exact (as dense). On Lava: the layer's
reference step in a process of its own (lava-cpu), or Lava's stock Dense for
each matrix into the stock RF / RF_IZ (decomposed)."""

import h5py
import numpy as np

from .. import fixedpoint as fx
from ..errors import NetFileError
from . import hdf5
from .base import CHW, COMMON_KEYS, need
from .dense import Dense
from .synapse import READ_WEIGHT_MAX, WEIGHT_EXP_RANGE, WEIGHT_MIN, _weight_bits


class DenseComplex(Dense):
    name = "dense_comp"
    keys = Dense.keys - {"bias", "delay"}
    neuron = "required"
    currents = 2  # real and imaginary

    def read(self, g, layer, at):
        extra = sorted(set(g.keys()) - COMMON_KEYS - self.keys)  # read as a dense group: its keys checked
        if extra:
            raise NetFileError(f"{at}: unexpected key {extra[0][:40]!r} for a complex dense layer "
                               f"(NetX's ComplexDense ignores it)")
        w = g.get("weight")
        if not isinstance(w, h5py.Group):
            raise NetFileError(f"{at}: key 'weight' must be a group of 'real' and 'imag'")
        extra = sorted(set(w.keys()) - {"real", "imag"})
        if extra:
            raise NetFileError(f"{at}: unexpected key {'weight/' + extra[0][:40]!r}")
        if layer.neuron is None:
            raise NetFileError(f"{at}: a complex dense layer needs a resonate-and-fire 'neuron' group")
        layer.weight_exp = hdf5.integer(g, "wgtExp", at, *WEIGHT_EXP_RANGE, default=0)
        real, imag = (self.matrix(g, layer, hdf5.ints(g, key, at), at, key) for key in ("weight/real", "weight/imag"))
        if real.shape != imag.shape:
            raise NetFileError(f"{at}: keys 'weight/real' {real.shape} and 'weight/imag' {imag.shape} differ")
        layer.weight, layer.attrs = real, {"weight_imag": imag}

    def netx_read(self, layer, at):
        for part, w in (("real", layer.weight), ("imag", layer.attrs["weight_imag"])):
            self.netx_exact(w, f"{at}: key 'weight/{part}'")

    def write(self, g, layer, net):
        del g["type"]  # NetX knows the complex synapse as a dense group (its own dense_comp crashes)
        hdf5.write_string(g, "type", Dense.name)
        for part, w in (("real", layer.weight), ("imag", layer.attrs["weight_imag"])):
            g.create_dataset(f"weight/{part}", data=w.astype(np.int16), compression="gzip")
        g.create_dataset("wgtExp", data=int(layer.weight_exp))
        g.create_dataset("inFeatures", data=layer.weight.shape[1])
        g.create_dataset("outFeatures", data=layer.weight.shape[0])

    def check(self, net, layer, src, at):
        imag = layer.attrs.get("weight_imag")
        need(isinstance(imag, np.ndarray) and np.issubdtype(imag.dtype, np.integer) and
             layer.weight is not None and imag.shape == layer.weight.shape, at,
             "needs integer 'weight/imag' of the real weight's shape")
        need(int(imag.min()) >= WEIGHT_MIN and int(imag.max()) <= READ_WEIGHT_MAX, at,
             f"weights must be integers in [{WEIGHT_MIN}, {READ_WEIGHT_MAX}] (8-bit Loihi weights)")
        spikes = src[0].spiking or (layer.inputs[0] == 0 and not net.graded_input)  # a spike-frame input
        need(spikes, at, "a complex dense layer reads spikes (as NetX's ComplexDense, from spiking layers)")
        super().check(net, layer, src, at)

    def row_sums(self, layer):
        """Per output the larger of the two matrices' sums of |weights|."""
        rows = [np.abs(w.astype(np.int64)).sum(axis=1) for w in (layer.weight, layer.attrs["weight_imag"])]
        return np.maximum(*rows)

    def reference(self, net, i, be):
        layer = net.layers[i]
        real, imag = (self.synapse(layer, be.asint(w), be) for w in (layer.weight, layer.attrs["weight_imag"]))
        k = layer.weight_exp - net.layers[layer.inputs[0]].value_shift
        return lambda x: (fx.saturate_synapse(fx.shift(real(x[0]), k)), fx.saturate_synapse(fx.shift(imag(x[0]), k)))

    def lava(self, b, i, layer, ports):
        if not b.backend.decomposed:  # the layer's reference step, its neuron included
            from ..runtime.proc.stateful.process import build_stateful

            return build_stateful(b, i, layer, ports)
        from lava.proc.dense.process import Dense as StockDense

        neuron = b.add(b.lif(i, f"{i}:{layer.name}/neuron"))  # the model's stock RF or RF_IZ
        flat = ports[0].transpose(CHW).flatten()
        for part, w, port in (("real", layer.weight, neuron.a_real_in),
                              ("imag", layer.attrs["weight_imag"], neuron.a_imag_in)):
            syn = b.add(StockDense(weights=w.astype(np.int32), weight_exp=layer.weight_exp,
                                   name=f"{i}:{layer.name}/{part}"))
            flat.connect(syn.s_in)
            syn.a_out.reshape(port.shape).connect(port)
        return neuron.s_out

    def counts(self, layer, src):
        synapses, fan_in, fan_out = super().counts(layer, src)
        return 2 * synapses, 2 * fan_in, 2 * fan_out  # each input reaches both synapses of each neuron

    def resources(self, r, i, layer, row):
        bound = super().resources(r, i, layer, row)
        weights = np.concatenate([layer.weight.ravel(), layer.attrs["weight_imag"].ravel()])
        row["weights"] = int(weights.size)
        row["weight_bits"] = _weight_bits(weights)
        return bound

    def flops(self, net, i):
        return 2 * super().flops(net, i)


TYPE = DenseComplex()
