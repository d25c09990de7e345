"""dense_rec: NetX's RecurrentDense (SLAYER's Recurrent block), a dense layer
whose neuron also reads its own previous output through `weight_rec`
(out, out). Both weight matrices share the layer's exponent (NetX optimises
their concatenation for one exponent). On Lava both synapses deliver one step
later, so the output of step t - 1 meets the input of step t:
  a(t) = sat24(shift(W flatten(x(t)), e - g) + shift(W_rec s(t - 1), e)),
then the neuron (its bias into the voltage); s(-1) = 0 at each sample's start.
NetX applies a dense_rec `delay` to both synapses and drops the exponent
then: lava-msf refuses the key."""

import numpy as np

from .. import fixedpoint as fx
from ..errors import NetFileError
from . import hdf5
from .base import CHW, need
from .dense import Dense
from .synapse import ROW_SUM_MAX, WEIGHT_MAX, WEIGHT_MIN


class DenseRec(Dense):
    name = "dense_rec"
    keys = (Dense.keys - {"delay"}) | {"weight_rec"}
    neuron = "required"

    def read(self, g, layer, at):
        super().read(g, layer, at)
        rec = hdf5.ints(g, "weight_rec", at)
        if rec.shape != (layer.weight.shape[0],) * 2:
            raise NetFileError(f"{at}: key 'weight_rec' must be ({layer.weight.shape[0]}, "
                               f"{layer.weight.shape[0]}), got {rec.shape}")
        layer.attrs = {"weight_rec": rec}

    def write(self, g, layer, net):
        super().write(g, layer, net)
        g.create_dataset("weight_rec", data=layer.attrs["weight_rec"].astype(np.int16), compression="gzip")

    def check(self, net, layer, src, at):
        super().check(net, layer, src, at)
        need(layer.delay is None, at, "a dense_rec layer takes no 'delay'")
        rec, n = layer.attrs.get("weight_rec"), layer.shape[0]
        need(isinstance(rec, np.ndarray) and np.issubdtype(rec.dtype, np.integer) and rec.shape == (n, n), at,
             f"key 'weight_rec' must be ({n}, {n}) integers")
        need(int(rec.min()) >= WEIGHT_MIN and int(rec.max()) <= WEIGHT_MAX and not (rec % 2).any(), at,
             f"key 'weight_rec' must hold even integers in [{WEIGHT_MIN}, {WEIGHT_MAX}]")
        row = int((np.abs(layer.weight.astype(np.int64)).sum(axis=1) + np.abs(rec.astype(np.int64)).sum(axis=1)).max())
        need(row <= ROW_SUM_MAX, at, f"sum of |weights| into one output {row} over {ROW_SUM_MAX}")

    def state_elements(self, layer, src):
        return layer.size  # its previous output

    def initial_state(self, layer, batch, be):
        return be.zeros((batch, *layer.shape))

    def observe(self, layer, state, out):
        return out

    def reference(self, net, i, be):
        layer = net.layers[i]
        forward = self.synapse(layer, be.asint(layer.weight), be)
        recurrent = self.synapse(layer, be.asint(layer.attrs["weight_rec"]), be)
        k_in, k_rec = layer.weight_exp - net.layers[layer.inputs[0]].value_shift, layer.weight_exp - layer.value_shift

        def op(x, previous):  # each synapse shifts its own sum, as Lava's two Dense processes
            return fx.saturate_synapse(fx.shift(forward(x[0]), k_in) + fx.shift(recurrent(previous), k_rec)), previous
        return op

    def lava(self, b, i, layer, ports):
        if not b.backend.decomposed:
            from ..runtime.proc.stateful.process import build_stateful

            return build_stateful(b, i, layer, ports)
        return _stock(b, i, layer, ports)

    def to_nir(self, x, i, layer):  # NIR's recurrent edge: an Affine from the neuron back into it
        import nir

        super().to_nir(x, i, layer)
        neuron = f"{layer.name}.neuron"
        rec = layer.attrs["weight_rec"].astype(np.float64) * 2.0 ** layer.weight_exp / fx.WEIGHT_SCALE
        x.add(i, f"{layer.name}.rec", nir.Affine(weight=rec, bias=np.zeros(layer.shape[0])), [neuron])
        x.edges.append((f"{layer.name}.rec", neuron))

    def counts(self, layer, src):
        synapses, fan_in, fan_out = super().counts(layer, src)
        n = layer.shape[0]
        return synapses + n * n, fan_in + n, fan_out

    def resources(self, r, i, layer, row):
        bound = super().resources(r, i, layer, row)
        rec = np.abs(layer.attrs["weight_rec"].astype(np.int64)).sum(axis=1)
        row["recurrent_synapses"] = int(layer.shape[0] ** 2)
        row["weights"] += int(layer.attrs["weight_rec"].size)
        return bound + int(fx.shift(rec, layer.weight_exp).max())

    def flops(self, net, i):
        return super().flops(net, i) + int(net.layers[i].shape[0]) ** 2

    def cost_terms(self, net, i):
        """The forward sum is driven by the input, the recurrent one by the layer's own last output."""
        return [(super().flops(net, i), net.layers[i].inputs), (int(net.layers[i].shape[0]) ** 2, (i,))]


TYPE = DenseRec()


def _stock(b, i, layer, ports):
    """Chip-mappable: Lava's stock Dense for each weight matrix into the stock
    neuron, its spikes fed back (NetX's RecurrentDense)."""
    from lava.proc.dense.process import Dense as StockDense

    from ..runtime.builder import NEVER, BuildError
    from ..runtime.proc.stock import GRADED_BITS

    at = f"layer {i} ({layer.name})"
    if b.reset_interval != NEVER:
        raise BuildError(f"{at}: Lava's stock Dense of a recurrent layer keeps the last step's spikes across "
                         f"samples (it has no reset); use --backend lava-cpu, or stream with --reset never")
    src = b.net.layers[layer.inputs[0]]
    syn = b.add(StockDense(weights=layer.weight.astype(np.int32), weight_exp=layer.weight_exp - src.value_shift,
                           num_message_bits=0 if src.spiking else GRADED_BITS, name=f"{i}:{layer.name}"))
    rec = b.add(StockDense(weights=layer.attrs["weight_rec"].astype(np.int32), weight_exp=layer.weight_exp,
                           name=f"{i}:{layer.name}/recurrent"))
    lif = b.add(b.lif(i, f"{i}:{layer.name}/neuron"))
    ports[0].transpose(CHW).flatten().connect(syn.s_in)
    syn.a_out.reshape(b.shape(i)).connect(lif.a_in)
    rec.a_out.reshape(b.shape(i)).connect(lif.a_in)
    lif.s_out.flatten().connect(rec.s_in)
    return lif.s_out
