"""sdsa: spike-driven self-attention on Q, K, V spikes of its own shape, with
its attention neuron -> spikes. Counts of coincidences (ANDs of 0/1 values)
times the integer scale s feed the neuron:
  v2:    a = s * Q (K^T V) per head            -> LIF -> spikes
  v1_kv: a = s * sum_tokens(K & V) per channel -> LIF -> mask; Q & mask
  v1_qk: a = s * sum_c(Q & K) per head, token  -> LIF -> mask; V & mask
On Lava the project's SDSA process; decomposed: stock processes
(lava_msf.chip.mapping.sdsa_decomposition)."""

from numbers import Integral

import numpy as np

from .. import fixedpoint as fx
from ..chip.loihi2 import signed_bits
from ..chip.mapping import sdsa_decomposition
from . import hdf5
from .base import LayerType, need

VARIANTS = ("v2", "v1_kv", "v1_qk")
SCALE_MAX = 255  # the decomposition's count synapses: Lava's 8-bit excitatory weights


def current(attrs: dict, q, k, v, be):
    """The attention neuron's input from Q, K, V spikes (N, C, H, W)."""
    n, c, h, w = q.shape
    heads, scale, variant = int(attrs["heads"]), int(attrs["scale"]), attrs["variant"]
    if variant == "v2":
        qh, kh, vh = (z.reshape(n, heads, c // heads, h * w) for z in (q, k, v))
        kv = be.matmul(kh, vh.swapaxes(-1, -2))  # (i, j): sum over tokens of K_i V_j
        return scale * be.matmul(kv.swapaxes(-1, -2), qh).reshape(n, c, h, w)
    if variant == "v1_kv":
        return scale * be.sum(k * v, (2, 3)).reshape(n, c, 1, 1)
    return scale * be.sum((q * k).reshape(n, heads, c // heads, h, w), (2,))


def output(attrs: dict, spikes, q, v):
    """The output spikes from the attention neuron's: v2 emits them, the V1
    forms mask Q (v1_kv) or V (v1_qk) with them."""
    n, c, h, w = q.shape
    if attrs["variant"] == "v2":
        return spikes
    if attrs["variant"] == "v1_kv":
        return q * spikes
    heads = int(attrs["heads"])
    return (v.reshape(n, heads, c // heads, h, w) * spikes.reshape(n, heads, 1, h, w)).reshape(n, c, h, w)


def max_count(layer) -> int:
    """The most coincidences one attention neuron counts in a step."""
    c, h, w = layer.shape
    return {"v2": c // int(layer.attrs["heads"]) * h * w, "v1_kv": h * w,
            "v1_qk": c // int(layer.attrs["heads"])}[layer.attrs["variant"]]


def _decomposition(layer, delays=(0, 0, 0)):
    return sdsa_decomposition(layer.lava_shape, layer.attrs["variant"], int(layer.attrs["heads"]),
                              int(layer.attrs["scale"]), delays)


class SDSA(LayerType):
    name = "sdsa"
    arity = (3, 3)
    keys = frozenset({"neuron", "variant", "heads", "scale"})
    neuron = "required"
    spiking = operator = True

    def read(self, g, layer, at):
        layer.attrs = {"variant": hdf5.string(g, "variant", at),
                       "heads": hdf5.integer(g, "heads", at, 1, layer.shape[0]),
                       "scale": hdf5.integer(g, "scale", at, 1, SCALE_MAX)}

    def write(self, g, layer, net):
        hdf5.write_string(g, "variant", layer.attrs["variant"])
        g.create_dataset("heads", data=int(layer.attrs["heads"]))
        g.create_dataset("scale", data=int(layer.attrs["scale"]))

    def check(self, net, layer, src, at):
        need(all(tuple(s.shape) == tuple(layer.shape) and s.spiking for s in src), at,
             "reads Q, K, V spikes of its own shape")
        need(layer.attrs.get("variant") in VARIANTS, at, f"variant must be one of {VARIANTS}")
        heads, scale = layer.attrs.get("heads", 0), layer.attrs.get("scale", 0)
        need(isinstance(heads, Integral) and heads >= 1 and layer.shape[0] % heads == 0, at,
             f"heads={heads} must divide {layer.shape[0]} channels")
        need(isinstance(scale, Integral) and 1 <= scale <= SCALE_MAX, at, f"scale {scale} outside 1..{SCALE_MAX}")
        # the decomposition sums the counts in Lava's 24-bit synaptic accumulators
        need(scale * max_count(layer) <= fx.SYNAPSE_MAX, at, f"attention current up to {scale * max_count(layer)} "
             f"(scale x {max_count(layer)} coincidences) over the 24-bit synaptic accumulator")

    def to_nir(self, x, i, layer):
        """The V1 forms as stock nodes, the chip decomposition's: each AND a
        coincidence LIF of two weight-1 edges (depthwise 1x1 Conv2d relays), the
        count a SumPool2d over the tokens (v1_kv) or a 1x1 Conv2d over a head's
        channels (v1_qk) of weight s / 64 into the attention neuron, whose spikes
        a Conv2d of ones broadcasts back into the mask's AND."""
        import nir

        variant = layer.attrs["variant"]
        if variant == "v2":
            raise x.error(i, "SDSA v2 multiplies two spike signals (Q times K^T V), which NIR cannot express; "
                          "its v1_kv and v1_qk forms export (ANDs and sums of stock nodes)")
        c, h, w = layer.shape
        heads = int(layer.attrs["heads"])
        s = int(layer.attrs["scale"]) / fx.WEIGHT_SCALE  # a count of 1 is a current of s mantissa units
        srcs = [x.spike_image(i, k)[0] for k in range(3)]
        relay = lambda k: x.conv(i, "qkv"[k], np.ones((c, 1, 1, 1)), [srcs[k]], layer.shape, groups=c)  # noqa
        pair, masked = ((1, 2), 0) if variant == "v1_kv" else ((0, 1), 2)
        both = x.coincidence(i, f"{layer.name}.and", [relay(k) for k in pair], layer.shape)
        if variant == "v1_kv":  # per channel: the count over all tokens, broadcast back by a full-padded conv
            att = (c, 1, 1)
            total = x.add(i, f"{layer.name}.sum", nir.SumPool2d(kernel_size=np.array([h, w]), stride=np.array([h, w]),
                                                                padding=np.array([0, 0])), [both])
            total = x.add(i, f"{layer.name}.sum.scale", nir.Scale(scale=np.full(att, s)), [total])
            spread = dict(weight=np.ones((c, 1, h, w)), padding=(h - 1, w - 1), groups=c)
        else:  # per head and token: the count over the head's channels, broadcast back to them
            att = (heads, h, w)
            member = (np.arange(c)[None, :] // (c // heads) == np.arange(heads)[:, None]).astype(np.float64)
            total = x.conv(i, "sum", s * member[:, :, None, None], [both], layer.shape)
            spread = dict(weight=member.T[:, :, None, None])
        x.neuron(i, f"{layer.name}.attention", [total], att)
        back = x.conv(i, "broadcast", sources=[f"{layer.name}.attention"], in_shape=att, **spread)
        x.coincidence(i, layer.name, [back, relay(masked)], layer.shape, type=self.name, heads=heads)

    def neuron_shape(self, layer):
        """The attention neuron of V1 forms is per channel (v1_kv) or per head and token (v1_qk)."""
        c, h, w = layer.shape
        return {"v2": (c, h, w), "v1_kv": (c, 1, 1), "v1_qk": (int(layer.attrs["heads"]), h, w)}[
            layer.attrs["variant"]]

    def latency(self, layer, decomposed):
        return _decomposition(layer).latency if decomposed else 0

    def reference(self, net, i, be):
        attrs = net.layers[i].attrs
        return lambda x: current(attrs, *x, be)

    def emit(self, layer, spikes, src):
        return output(layer.attrs, spikes, src[0], src[2])

    def lava(self, b, i, layer, ports):
        from ..runtime.proc.sdsa.process import SDSA as SDSAProcess

        p = layer.neuron
        arrival = max(b.lat[j] for j in layer.inputs)
        sdsa = b.add(SDSAProcess(shape=b.shape(i), variant=layer.attrs["variant"],
                                 heads=int(layer.attrs["heads"]), scale=int(layer.attrs["scale"]),
                                 vth_mant=p.vth_mant, i_decay=p.i_decay, v_decay=p.v_decay,
                                 reset_interval=b.reset_interval, reset_offset=(arrival + 1) % b.reset_interval,
                                 delays=tuple(b.net.input_delays(i, b.lat)), name=f"{i}:{layer.name}"))
        for port, name in zip(ports, ("q_in", "k_in", "v_in")):
            port.connect(getattr(sdsa, name))
        return sdsa.s_out

    def resources(self, r, i, layer, row):
        scale = int(layer.attrs["scale"])
        dec = _decomposition(layer)
        row.update(dec.counts(layer.size), weight_bits=signed_bits(scale) - 1, weight_exp=0)
        if layer.attrs["variant"] == "v2":
            r.notes.append(f"layer {i} ({layer.name}): V2 SDSA needs graded ProdNeurons (Q gates the K^T V "
                           f"counts): {dec.population('prod').size} of them")
        return scale * max_count(layer)

    def flops(self, net, i):
        layer = net.layers[i]
        c, h, w = layer.shape
        tokens, d = h * w, c // int(layer.attrs["heads"])
        # v2: K^T V then Q (K^T V), N d^2 each per head; v1: AND + token/channel sum, then the mask
        return 2 * tokens * c * d if layer.attrs["variant"] == "v2" else 2 * tokens * c


TYPE = SDSA()
