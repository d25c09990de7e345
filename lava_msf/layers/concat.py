"""concat: the channels of several spike sources of equal H, W, in input
order -> (sum C, H, W) spikes; no weights, no neuron.
On Lava (Lava 0.10 compiles no ConcatPort): each input reaches the output
through Lava's stock Sparse synapse, weight 1 from each input neuron to its
place in the concatenation (DelaySparse for an input that must wait for a
later one), into a memoryless relay LIF that spikes where its input does
(threshold 0, full decay): one synapse hop, as on the chip."""

import numpy as np

from .. import fixedpoint as fx
from .base import LayerType, need

MAX_INPUTS = 64
RELAY = fx.LifParams(vth_mant=0, i_decay=fx.DECAY_UNITY, v_decay=fx.DECAY_UNITY)  # spikes where it gets one


def placement(layer, src: list) -> list:
    """Per input, the flat indices of its (W, H, C) neurons in the output's (W, H, C)."""
    w, h, _ = layer.lava_shape
    out, start = [], 0
    for s in src:
        c = s.shape[0]
        out.append(((np.arange(w * h)[:, None] * layer.shape[0]) + start + np.arange(c)[None, :]).ravel())
        start += c
    return out


class Concat(LayerType):
    name = "concat"
    arity = (2, MAX_INPUTS)
    spiking = True

    def check(self, net, layer, src, at):
        for s in src:
            need(s.spiking and tuple(s.shape[1:]) == tuple(layer.shape[1:]), at,
                 f"concatenates spikes of size {tuple(layer.shape[1:])}; input {s.name} is "
                 f"{'spikes' if s.spiking else 'values'} {s.shape}")
        need(sum(s.shape[0] for s in src) == layer.shape[0], at,
             f"{layer.shape[0]} channels are not the sum of its inputs' {[s.shape[0] for s in src]}")

    def latency(self, layer, decomposed):
        return 1

    def reference(self, net, i, be):
        return be.concat

    def lava(self, b, i, layer, ports):
        from scipy.sparse import csr_matrix

        from ..runtime.proc.stock import _synapse, lif_reset

        src = [b.net.layers[j] for j in layer.inputs]
        relay = b.add(lif_reset((b.batch * layer.size,), RELAY, None, b.reset_interval, b.lat[i] + 1,
                                b.backend.select_tag == "fixed_pt", f"{i}:{layer.name}"))
        for s, rows, delay, port in zip(src, placement(layer, src), b.net.input_delays(i, b.lat), ports):
            weights = csr_matrix((np.ones(s.size, dtype=np.int32), (rows, np.arange(s.size))),
                                 shape=(layer.size, s.size))
            syn = b.add(_synapse(b.batched(weights), delay, graded=False))
            port.flatten().connect(syn.s_in)
            syn.a_out.connect(relay.a_in)
        return relay.s_out.reshape(b.shape(i))

    def resources(self, r, i, layer, row):
        row.update(neurons=layer.size, synapses=layer.size, fan_in=1, fan_out=1, weight_bits=1, weight_exp=0)
        return 1


TYPE = Concat()
