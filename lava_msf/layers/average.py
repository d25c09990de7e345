"""average: SLAYER's Average readout (`slayer.block.*.Average`, NetX's
`average`, which NetX itself does not build): the spikes of the source,
flattened (C*H*W), in `C` consecutive groups of equal size G -> (C, 1, 1).
SLAYER gives each group's mean, count / G; lava-msf keeps the exact integer
count (the mean times G), a graded value in spike units (value shift 0), so
the class with the largest mean is the one with the largest count. E.g.
lava-dl's NTIDIGITS network: 242 neurons, 11 classes of 22.
On Lava: a stock Sparse of ones per group (chip-mappable), one step per hop
(a copy per sample of the batch)."""

import numpy as np

from .base import CHW, LayerType, need


class Average(LayerType):
    name = "average"
    operator = True  # one accumulate per input spike

    def check(self, net, layer, src, at):
        need(src[0].spiking, at, "averages spikes (the output of a layer with a neuron)")
        n = layer.shape[0]
        need(tuple(layer.shape[1:]) == (1, 1) and src[0].size % n == 0, at,
             f"output (C, 1, 1) with C dividing the source's {src[0].size} values, got {tuple(layer.shape)}")

    def value_shift(self, layer):
        return 0  # spike counts

    def latency(self, layer, decomposed):
        return 1

    def reference(self, net, i, be):
        n = net.layers[i].shape[0]
        return lambda x: be.sum(x[0].reshape(x[0].shape[0], n, -1), (2,)).reshape(x[0].shape[0], n, 1, 1)

    def groups(self, net, layer) -> np.ndarray:
        """(C, C*G): 1 where an input belongs to the group."""
        n, size = layer.shape[0], net.layers[layer.inputs[0]].size
        return np.repeat(np.eye(n, dtype=np.int32), size // n, axis=1)

    def lava(self, b, i, layer, ports):
        from lava.proc.sparse.process import Sparse

        syn = b.add(Sparse(weights=b.batched(self.groups(b.net, layer)), name=f"{i}:{layer.name}"))
        ports[0].transpose(CHW).flatten().connect(syn.s_in)
        return syn.a_out.reshape(b.shape(i))

    def to_nir(self, x, i, layer):  # spike counts: an Affine of ones per group
        import nir

        x.add(i, layer.name, nir.Affine(weight=self.groups(x.net, layer).astype(np.float64),
                                        bias=np.zeros(layer.shape[0])),
              [x.flat_source(i)], (layer.shape[0],), type=self.name)

    def resources(self, r, i, layer, row):
        size = r.net.layers[layer.inputs[0]].size
        row.update(synapses=size, fan_in=size // layer.shape[0], fan_out=1, weight_bits=1, weight_exp=0)
        return size // layer.shape[0]

    def flops(self, net, i):
        return net.layers[net.layers[i].inputs[0]].size


TYPE = Average()
