"""A NIR graph rewritten into the primitives the clients' importers read (docs/nir.md,
"Portable graphs"): snnTorch's and Norse's imports have no `Scale`, and Norse's drops
a LIF's `r`. Every rewrite computes the same in NIR's float semantics:

- a Scale of ones (lava-msf's merge) becomes its edges: each source straight into
  each consumer (NIR sums the edges into a node);
- a Scale after a synapse whose only consumer it is goes into that synapse's weights
  (per output channel; a SumPool2d / AvgPool2d becomes a depthwise Conv2d);
- a uniform Scale before synapses that read it alone (an input's 2**-k) goes into
  their weights;
- with `fold_r`, a LIF's `r` and `v_leak` go into the weights and bias of the synapse
  that feeds it (or a gain node before it).

A Scale none of these fit is refused naming the node."""

import copy

import numpy as np

from . import NirError

SYNAPSES = ("Conv2d", "Affine", "Linear", "SumPool2d", "AvgPool2d")
WEIGHTED = ("Conv2d", "Affine", "Linear")


def _kind(node) -> str:
    return type(node).__name__


class _Graph:
    def __init__(self, graph):
        self.nodes = {n: copy.deepcopy(v) for n, v in graph.nodes.items()}
        self.edges = [tuple(e) for e in graph.edges]
        self.metadata = dict(graph.metadata or {})

    def sources(self, n):
        return [s for s, d in self.edges if d == n]

    def consumers(self, n):
        return [d for s, d in self.edges if s == n]

    def bypass(self, n):
        """Remove node n, wiring each of its sources to each of its consumers."""
        srcs, cons = self.sources(n), self.consumers(n)
        self.edges = [e for e in self.edges if n not in e]
        for s in srcs:
            for c in cons:
                if (s, c) in self.edges:
                    raise NirError(f"NIR node {n!r} (Scale): {s!r} would reach {c!r} twice; a portable "
                                   f"graph has one edge per pair")
                self.edges.append((s, c))
        del self.nodes[n]


def _scale_outputs(node, c: np.ndarray, nir):
    """Synapse `node` with its outputs multiplied by c (one factor per output channel)."""
    kind = _kind(node)
    if kind in ("Affine", "Linear"):
        node.weight = node.weight * c[:, None]
        if kind == "Affine" and node.bias is not None:
            node.bias = node.bias * c
        return node
    if kind == "Conv2d":
        node.weight = node.weight * c[:, None, None, None]
        if node.bias is not None:
            node.bias = node.bias * c
        return node
    # a pool: a depthwise Conv2d with the factor (AvgPool: over the taps) on every tap
    k = tuple(int(v) for v in np.broadcast_to(node.kernel_size, 2))
    shape = tuple(int(v) for v in node.input_type["input"])
    taps = c / (np.prod(k) if kind == "AvgPool2d" else 1.0)
    w = np.broadcast_to(taps[:, None, None, None], (shape[0], 1, *k)).astype(np.float64)
    conv = nir.Conv2d(input_shape=shape[1:], weight=w, stride=np.broadcast_to(node.stride, 2),
                      padding=np.broadcast_to(node.padding, 2), dilation=1, groups=shape[0],
                      bias=np.zeros(shape[0]))
    conv.input_type, conv.output_type = node.input_type, node.output_type
    conv.metadata = node.metadata
    return conv


def _per_channel(scale: np.ndarray) -> np.ndarray | None:
    """The per-channel factors of a Scale (C,) or (C, H, W), None when they vary over a channel."""
    s = np.asarray(scale, dtype=np.float64)
    c = s.reshape(s.shape[0], -1)
    return c[:, 0] if (c == c[:, :1]).all() else None


def _fold_scale(g: _Graph, n: str, nir) -> None:
    s = np.asarray(g.nodes[n].scale, dtype=np.float64)
    srcs, cons = g.sources(n), g.consumers(n)
    if (s == 1).all():
        return g.bypass(n)
    if len(srcs) == 1 and _kind(g.nodes[srcs[0]]) in SYNAPSES and g.consumers(srcs[0]) == [n]:
        c = _per_channel(s)
        if c is not None:
            g.nodes[srcs[0]] = _scale_outputs(g.nodes[srcs[0]], c, nir)
            return g.bypass(n)
    if (s == s.reshape(-1)[0]).all() and cons and all(
            _kind(g.nodes[c]) in WEIGHTED and g.sources(c) == [n] for c in cons):
        for c in cons:
            g.nodes[c].weight = g.nodes[c].weight * s.reshape(-1)[0]
        return g.bypass(n)
    raise NirError(f"NIR node {n!r} (Scale) has no portable form: it neither merges (ones), follows a synapse it "
                   f"alone reads, nor scales uniformly the input of synapses")


def _fold_r(g: _Graph, nir) -> None:
    """Each LIF's r and v_leak into the synapse feeding it, r I + v_leak as the synapse's outputs
    times r plus a bias v_leak (Norse drops r and starts a LIF's voltage at v_leak, Lava at 0):
    into that synapse's weights and bias when it feeds only this LIF; else into a gain node
    `<lif>.r` before it (a depthwise 1x1 Conv2d, or a diagonal Affine for a vector)."""
    for n in [n for n, v in g.nodes.items() if _kind(v) == "LIF"]:
        r, leak = (np.asarray(getattr(g.nodes[n], k), dtype=np.float64) for k in ("r", "v_leak"))
        if (r == 1).all() and not leak.any():
            continue
        c, b = _per_channel(r), _per_channel(np.broadcast_to(leak, r.shape))
        if c is None or b is None:
            raise NirError(f"NIR node {n!r} (LIF): r or v_leak varies within a channel; it has no portable form")
        srcs = g.sources(n)
        if len(srcs) == 1 and _kind(g.nodes[srcs[0]]) in WEIGHTED and g.consumers(srcs[0]) == [n] and (
                _kind(g.nodes[srcs[0]]) != "Linear" or not b.any()):
            g.nodes[srcs[0]] = _scale_outputs(g.nodes[srcs[0]], c, nir)
            if b.any():
                g.nodes[srcs[0]].bias = g.nodes[srcs[0]].bias + b
        else:
            if r.ndim == 1:
                gain = nir.Affine(weight=np.diag(c), bias=b)
            else:
                gain = nir.Conv2d(input_shape=r.shape[1:], weight=c.reshape(-1, 1, 1, 1), stride=1, padding=0,
                                  dilation=1, groups=len(c), bias=b)
                gain.input_type, gain.output_type = {"input": np.array(r.shape)}, {"output": np.array(r.shape)}
            name = f"{n}.r"
            if name in g.nodes:
                raise NirError(f"NIR node {n!r} (LIF): the name {name!r} for its gain is taken")
            gain.metadata = dict(g.nodes[n].metadata or {})
            g.nodes[name] = gain
            g.edges = [(s, name if d == n else d) for s, d in g.edges] + [(name, n)]
        g.nodes[n].r, g.nodes[n].v_leak = np.ones_like(r), np.zeros_like(r)


def portable(graph, fold_r: bool = False):
    """`graph` (a nir.NIRGraph) without Scale nodes (and with `fold_r`, every LIF at
    r = 1, v_leak = 0), computing the same in NIR's float semantics; NirError naming the node
    that has no such form."""
    import nir

    g = _Graph(graph)
    while scales := [n for n, v in g.nodes.items() if _kind(v) == "Scale"]:
        _fold_scale(g, scales[0], nir)
    if fold_r:
        _fold_r(g, nir)
    g.metadata["lava_msf_portable"] = "norse" if fold_r else "snntorch"
    return nir.NIRGraph(nodes=g.nodes, edges=g.edges, metadata=g.metadata, type_check=False)
