"""SDSA's V1 subgraphs (lava_msf/layers/sdsa.py `to_nir`) read back as one `sdsa` layer.

The export names the nodes after the layer `L` and marks the mask `L` (hint type 'sdsa'). The
import takes them as one layer only when they compute exactly SDSA: relays `L.q`, `L.k`, `L.v`
(depthwise 1x1 Conv2d of ones, no bias) of neuron nodes; `L.and` and `L` memoryless coincidence
LIFs (threshold 1.5 on weight-1 inputs); the count `L.sum` (v1_kv: SumPool2d over all tokens then
`L.sum.scale` = s / 64; v1_qk: 1x1 Conv2d of s / 64 over each head's channels); the attention neuron
`L.attention` (exact in Lava's fixed point, no bias); the broadcast `L.broadcast` (Conv2d of ones);
no member read from outside but `L`. Any other graph is read node by node (the decomposed network,
the same spikes: docs/nir.md)."""

import numpy as np

from .. import fixedpoint as fx
from ..layers.sdsa import SCALE_MAX
from . import neuron as lif

RELAYS = ("q", "k", "v")


def _kind(node) -> str:
    return type(node).__name__


class _Mismatch(Exception):
    """The nodes are not SDSA's V1 subgraph exactly (the import reads them node by node)."""


def _need(ok):
    if not ok:
        raise _Mismatch


def _conv(imp, n, weight, padding=(0, 0), groups=1) -> None:
    """n is a stride-1, undilated, bias-free Conv2d of exactly `weight`."""
    node = imp.nodes[n]
    _need(_kind(node) == "Conv2d")
    _, stride, pad, dilation, g = imp.geometry(n)
    w = np.asarray(node.weight, dtype=np.float64)
    _need((stride, dilation, pad, g) == ((1, 1), (1, 1), tuple(padding), groups) and w.shape == weight.shape
          and (w == weight).all() and not np.any(node.bias))


def _lif(imp, n):
    """(LifParams with vth_mant, bias-free) of neuron node n at gain 1, exact in Lava's fixed point."""
    _need(_kind(imp.nodes[n]) in lif.NODES)
    rep = {}
    p, threshold, leak = lif.params(imp.nodes[n], imp.dt, 1.0, imp.at(n), rep)
    vth = lif.threshold_mant(threshold, imp.at(n), rep)
    _need(not rep and not np.any(leak))
    return fx.LifParams(vth_mant=vth, i_decay=p.i_decay, v_decay=p.v_decay)


def recognize(imp, mask: str):
    """For node `mask` hinted an SDSA: (its member nodes, its relays' source nodes (Q, K, V), the sdsa
    Layer's attrs and neuron) when the nodes named after it are SDSA's V1 subgraph exactly, else None."""
    name = lambda suffix: f"{mask}.{suffix}"  # noqa: E731
    try:
        relays = [name(k) for k in RELAYS]
        _need(all(r in imp.nodes for r in relays + [name("and"), name("sum"), name("attention"), name("broadcast")]))
        _need(len(imp.shapes[relays[0]]) == 3)
        c, h, w = (int(d) for d in imp.shapes[relays[0]])
        for r in relays:
            _need(len(imp.pred[r]) == 1 and _kind(imp.nodes[imp.pred[r][0]]) in lif.NODES)
            _conv(imp, r, np.ones((c, 1, 1, 1)), groups=c)
        v1_kv = _kind(imp.nodes[name("sum")]) == "SumPool2d"
        pair, masked = ((name("k"), name("v")), name("q")) if v1_kv else ((name("q"), name("k")), name("v"))
        _need(sorted(imp.pred[name("and")]) == sorted(pair) and _lif(imp, name("and")) == lif.COINCIDENCE)
        _need(sorted(imp.pred[mask]) == sorted([name("broadcast"), masked]) and _lif(imp, mask) == lif.COINCIDENCE)
        if v1_kv:
            kernel, stride, padding, _, _ = imp.geometry(name("sum"))
            _need((kernel, stride, padding) == ((h, w), (h, w), (0, 0)) and imp.pred[name("sum")] == [name("and")])
            scale = name("sum.scale")
            _need(scale in imp.nodes and _kind(imp.nodes[scale]) == "Scale" and imp.pred[scale] == [name("sum")])
            s = np.asarray(imp.nodes[scale].scale, dtype=np.float64) * fx.WEIGHT_SCALE
            _need(s.size > 0 and (s == s.reshape(-1)[0]).all())
            s = float(s.reshape(-1)[0])
            heads = imp.hint(mask, "heads")
            heads = heads if isinstance(heads, int) and heads >= 1 and c % heads == 0 else 1
            count, spread = [name("sum"), scale], dict(weight=np.ones((c, 1, h, w)), padding=(h - 1, w - 1), groups=c)
        else:
            _need(_kind(imp.nodes[name("sum")]) == "Conv2d")
            weight = np.asarray(imp.nodes[name("sum")].weight, dtype=np.float64)
            _need(weight.ndim == 4 and weight.size > 0)
            heads = weight.shape[0]
            _need(heads >= 1 and c % heads == 0 and imp.pred[name("sum")] == [name("and")])
            member = (np.arange(c)[None, :] // (c // heads) == np.arange(heads)[:, None]).astype(np.float64)
            s = float(weight.reshape(-1)[0]) * fx.WEIGHT_SCALE
            _conv(imp, name("sum"), s / fx.WEIGHT_SCALE * member[:, :, None, None])
            count, spread = [name("sum")], dict(weight=member.T[:, :, None, None])
        _need(np.isfinite(s) and s == round(s) and 1 <= s <= SCALE_MAX and imp.pred[name("attention")] == [count[-1]])
        neuron = _lif(imp, name("attention"))
        _need(imp.pred[name("broadcast")] == [name("attention")])
        _conv(imp, name("broadcast"), **spread)
        members = set(relays + [name("and"), name("attention"), name("broadcast"), mask] + count)
        _need(all(set(imp.succ[m]) <= members for m in members - {mask}))
        _need(len({imp.hint(m, "layer") for m in members}) == 1)
    except _Mismatch:
        return None
    attrs = {"variant": "v1_kv" if v1_kv else "v1_qk", "heads": int(heads), "scale": int(s)}
    return members, tuple(imp.pred[r][0] for r in relays), attrs, neuron
