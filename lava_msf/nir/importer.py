"""nir.NIRGraph -> lava_msf.graph.Network, quantized to Loihi fixed point.

NIR's primitives are a fixed set (the standard); they map onto lava-msf's
layer types here (docs/nir.md):
  Input [-> Scale 2**-k] [-> neuron]              input (value shift k, or its neuron)
  Affine | Linear | Conv2d | SumPool2d | AvgPool2d [-> Scale] [-> Delay] [-> neuron]
                                                   dense | conv | pool | mean | average
  LIF | CubaLIF | IF alone                         neuron (reads a current)
  synapse -> LI | CubaLI with every tau = dt      that synapse's current (a readout), r w_in x
  several edges into a node                        merge (a Scale of ones keeps the name)
  SDSA's V1 subgraph, as lava-msf exports it       sdsa (lava_msf.nir.sdsa; else node by node)
  Flatten, Output                                  nothing (dense flattens its input)
A chain is one layer when every link is its predecessor's only consumer and
the lava_msf_layer hints (lava-msf's own exports) do not say otherwise.
Floats become integers exactly where they are dyadic within Loihi's ranges;
elsewhere they are rounded and the report says by how much."""

import heapq
import math

import numpy as np

from .. import fixedpoint as fx
from ..graph import MAX_TIMESTEPS, Layer, Network
from ..intconv import output_size, pair
from ..layers import delay as delays
from ..layers.mean import GAIN_MAX, SHIFT_MAX
from ..layers.synapse import READ_WEIGHT_MAX, WEIGHT_EXP_RANGE, WEIGHT_MAX, WEIGHT_MIN, quantize_weight
from ..neurons.lif import BIAS_LIMIT
from . import DT, HINT, NirError
from . import neuron as lif
from . import sdsa

SYNAPSES = ("Affine", "Linear", "Conv2d", "SumPool2d", "AvgPool2d")
READOUTS = ("LI", "CubaLI")  # leaky integrators without spikes (Import.readout)
SUPPORTED = ("Input", "Output", "Flatten", "Scale", "Delay") + SYNAPSES + lif.NODES + READOUTS
THRESHOLD_TARGET = 1 << 10  # a rounded threshold mantissa is scaled to about this (Import.gain)
MAX_INPUT_SHIFT = 16


def _norm(shape) -> tuple:
    """A NIR shape as lava-msf's (C, H, W): a vector (n,) is (n, 1, 1)."""
    shape = tuple(int(d) for d in shape)
    return (shape[0], 1, 1) if len(shape) == 1 else shape  # () stays (): no layer has it


def _kind(node) -> str:
    return type(node).__name__


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _exact(x, y) -> bool:
    return bool(np.all(np.abs(np.asarray(x, dtype=np.float64) - y) <= lif.EXACT * np.maximum(1.0, np.abs(y))))


class Import:
    def __init__(self, graph, dt, timesteps, where):
        self.where = where
        self.nodes, self.edges = dict(graph.nodes), [tuple(e) for e in graph.edges]
        meta = graph.metadata if isinstance(graph.metadata, dict) else {}
        hint_dt, hint_t = meta.get(f"{HINT}dt"), meta.get(f"{HINT}timesteps")
        if dt is None:  # a hint that is no time step is no hint
            dt = hint_dt if _number(hint_dt) and 0 < hint_dt < math.inf else DT
        if timesteps is None:
            timesteps = hint_t if isinstance(hint_t, int) and 0 <= hint_t <= MAX_TIMESTEPS else 0
        if not (_number(dt) and 0 < dt < math.inf):
            raise NirError(f"{where}: dt must be a positive number, got {str(dt)[:40]}")
        if not (isinstance(timesteps, int) and 0 <= timesteps <= MAX_TIMESTEPS):
            raise NirError(f"{where}: timesteps must be an integer in 0..{MAX_TIMESTEPS}, got {str(timesteps)[:40]}")
        self.dt, self.timesteps = float(dt), int(timesteps)
        self.layers, self.value, self.done = [], {}, set()
        self.report = {"dt": self.dt, "quantization": {}}

    def at(self, n: str) -> str:
        return f"{self.where}: node {n!r} ({_kind(self.nodes[n])})"

    def hint(self, n: str, key: str):
        meta = getattr(self.nodes[n], "metadata", None)
        return meta.get(HINT + key) if isinstance(meta, dict) else None

    # --- the graph: names, edges, order, shapes --------------------------
    def structure(self) -> None:
        if not self.nodes:
            raise NirError(f"{self.where}: the graph has no nodes")
        bad = [f"{n} ({_kind(v)})" for n, v in self.nodes.items() if _kind(v) not in SUPPORTED]
        if bad:
            raise NirError(f"{self.where}: unsupported NIR nodes: {', '.join(bad[:6])}"
                           f"{' ...' if len(bad) > 6 else ''} (lava-msf imports {', '.join(SUPPORTED)})")
        self.pred, self.succ = {n: [] for n in self.nodes}, {n: [] for n in self.nodes}
        for a, b in self.edges:
            for end in (a, b):
                if end not in self.nodes:
                    raise NirError(f"{self.where}: edge ({a!r}, {b!r}) names no node {end!r}")
            if a in self.pred[b]:
                raise NirError(f"{self.where}: edge ({a!r}, {b!r}) appears twice")
            self.pred[b].append(a)
            self.succ[a].append(b)
        self.recurrent = self.recurrences()
        kinds = {k: [n for n, v in self.nodes.items() if _kind(v) == k] for k in ("Input", "Output")}
        for k, names in kinds.items():
            if len(names) != 1:
                raise NirError(f"{self.where}: lava-msf imports graphs with one {k} node, this one has "
                               f"{len(names)} ({', '.join(names[:4])})")
        self.input, self.output = kinds["Input"][0], kinds["Output"][0]
        for n in self.nodes:
            if n == self.input and self.pred[n] or n != self.input and not self.pred[n]:
                raise NirError(f"{self.at(n)}: {'the Input has inputs' if self.pred[n] else 'has no input'}")
            if n == self.output and self.succ[n] or n != self.output and not self.succ[n] and \
                    n not in self.recurrent.values():
                raise NirError(f"{self.at(n)}: {'the Output feeds other nodes' if self.succ[n] else 'feeds nothing'}")
        if len(self.pred[self.output]) != 1:
            raise NirError(f"{self.at(self.output)}: reads {len(self.pred[self.output])} nodes; lava-msf's output "
                           f"is one layer")
        self.order = self.topological()
        self.shapes = {}
        for n in self.order:
            self.shapes[n] = self.shape(n)

    def recurrences(self) -> dict:
        """{neuron: Affine} for each Affine that reads only a neuron and feeds only
        it back (a recurrent dense layer: the previous step's spikes); its edge into
        the neuron leaves the graph's order and shapes."""
        found = {}
        for m in self.nodes:
            for r in list(self.pred[m]):
                if _kind(self.nodes[m]) in lif.NODES and _kind(self.nodes[r]) in ("Affine", "Linear") \
                        and self.pred[r] == [m] and self.succ[r] == [m] and m not in found:
                    found[m] = r
                    self.pred[m].remove(r)
                    self.succ[r].remove(m)
        return found

    def topological(self) -> list:
        """Kahn's order; ties by the layer hint, then as the graph lists the nodes."""
        position = {n: k for k, n in enumerate(self.nodes)}
        key = lambda n: (self.hint(n, "layer") if isinstance(self.hint(n, "layer"), int) else math.inf,  # noqa
                         position[n], n)
        missing = {n: len(self.pred[n]) for n in self.nodes}
        ready = [key(n) for n in self.nodes if not missing[n]]
        heapq.heapify(ready)
        order = []
        while ready:
            n = heapq.heappop(ready)[2]
            order.append(n)
            for m in self.succ[n]:
                missing[m] -= 1
                if not missing[m]:
                    heapq.heappush(ready, key(m))
        if len(order) < len(self.nodes):
            loop = {n for n in self.nodes if missing[n]}  # cycles and what they feed: drop the latter
            while any(not set(self.succ[n]) & loop for n in loop):
                loop = {n for n in loop if set(self.succ[n]) & loop}
            loop = [n for n in self.nodes if n in loop]
            neurons = [n for n in loop if _kind(self.nodes[n]) in lif.NODES]
            if neurons:
                raise NirError(f"{self.at(neurons[0])}: a cycle through this neuron: lava-msf imports recurrence as "
                               f"an Affine from a neuron back into it only (dense_rec)")
            raise NirError(f"{self.at(loop[0])}: a cycle without a neuron (an algebraic loop) has no meaning")
        return order

    def shape(self, n: str) -> tuple:
        node, kind = self.nodes[n], _kind(self.nodes[n])
        if kind == "Input":
            return tuple(int(d) for d in np.ravel(node.input_type["input"]))
        ins = [self.shapes[p] for p in self.pred[n]]
        if len({_norm(s) for s in ins}) > 1:
            raise NirError(f"{self.at(n)}: its summed inputs have different shapes {ins}")
        src = ins[0]
        at = self.at(n)

        def need(ok, what):
            if not ok:
                raise NirError(f"{at}: {what} (input shape {src})")
        if kind == "Output":
            declared = node.output_type.get("output") if isinstance(node.output_type, dict) else None
            need(declared is None or _norm(np.ravel(declared)) == _norm(src), f"declares shape {declared}")
            return src
        if kind in ("Affine", "Linear"):
            w = np.asarray(node.weight)
            need(w.ndim == 2 and w.shape[1] == math.prod(src), f"weight {w.shape} does not fit")
            if kind == "Affine":
                need(np.shape(node.bias) == (w.shape[0],), f"bias {np.shape(node.bias)} does not fit weight {w.shape}")
            return (w.shape[0],)
        if kind == "Flatten":
            return (math.prod(src),)
        if kind in ("Conv2d", "SumPool2d", "AvgPool2d"):
            need(len(src) == 3, "reads (C, H, W)")
            kernel, stride, padding, dilation, groups = self.geometry(n)
            size = output_size(src[1:], kernel, stride, padding, dilation)
            need(min(size) >= 1, "gives no output")
            if kind != "Conv2d":
                return (src[0], *size)
            w = np.asarray(node.weight)
            need(groups >= 1 and src[0] == w.shape[1] * groups and w.shape[0] % groups == 0,
                 f"weight {w.shape} in {groups} groups does not fit")
            need(np.shape(node.bias) == (w.shape[0],), f"bias {np.shape(node.bias)} does not fit")
            if node.input_shape is not None:
                need(tuple(int(d) for d in np.ravel(node.input_shape)) == tuple(src[1:]),
                     f"declares input_shape {node.input_shape}")
            return (w.shape[0], *size)
        param = {"Scale": "scale", "Delay": "delay", "LI": "tau", "CubaLI": "tau_mem"}.get(kind, "v_threshold")
        shape = np.shape(getattr(node, param))
        need(_norm(shape) == _norm(src) or (kind == "Scale" and math.prod(shape) == 1), f"{param} has shape {shape}")
        return src

    def geometry(self, n: str):
        """(kernel, stride, padding, dilation, groups) of a Conv2d or pool node, (y, x) pairs."""
        node, kind = self.nodes[n], _kind(self.nodes[n])
        at = self.at(n)
        try:
            if kind == "Conv2d":
                kernel, groups = tuple(np.shape(node.weight)[2:]), int(node.groups)
                stride, dilation = pair(tuple(np.ravel(node.stride)) if np.size(node.stride) > 1 else node.stride), \
                    pair(tuple(np.ravel(node.dilation)) if np.size(node.dilation) > 1 else node.dilation)
                if len(kernel) != 2:
                    raise NirError(f"{at}: weight must be (C_out, C_in / groups, kH, kW)")
            else:
                kernel, groups, dilation = pair(tuple(np.ravel(node.kernel_size))), 1, (1, 1)
                stride = pair(tuple(np.ravel(node.stride)))
            padding = node.padding
            if isinstance(padding, str):
                if padding == "valid":
                    padding = (0, 0)
                elif padding == "same" and stride == (1, 1) and all(d * (k - 1) % 2 == 0
                                                                    for d, k in zip(dilation, kernel)):
                    padding = tuple(d * (k - 1) // 2 for d, k in zip(dilation, kernel))
                else:
                    raise NirError(f"{at}: padding {padding!r} is not a symmetric zero padding")
            else:
                padding = pair(tuple(np.ravel(padding)) if np.size(padding) > 1 else padding)
            stride, padding, dilation = (tuple(int(v) for v in p) for p in (stride, padding, dilation))
        except (TypeError, ValueError) as e:
            if isinstance(e, NirError):
                raise
            raise NirError(f"{at}: stride, padding, dilation and kernel must be ints or (y, x) pairs") from None
        if min(stride + dilation + tuple(kernel)) < 1 or min(padding) < 0:
            raise NirError(f"{at}: stride {stride}, dilation {dilation}, kernel {kernel} must be >= 1, padding "
                           f"{padding} >= 0")
        return tuple(int(k) for k in kernel), stride, padding, dilation, groups

    # --- chains ----------------------------------------------------------
    def same_layer(self, a: str, b: str) -> bool:
        ha, hb = self.hint(a, "layer"), self.hint(b, "layer")
        return ha is None or hb is None or ha == hb

    def follow(self, n: str, kinds) -> str | None:
        """n's only consumer when it is of one of `kinds`, reads only n and belongs to n's layer."""
        if n is None or len(self.succ[n]) != 1:
            return None
        m = self.succ[n][0]
        ok = _kind(self.nodes[m]) in kinds and self.pred[m] == [n] and self.same_layer(n, m) and m not in self.done
        return m if ok else None

    def add(self, layer: Layer, *nodes) -> int:
        self.layers.append(layer)
        for n in nodes:
            if n is not None:
                self.value[n] = len(self.layers) - 1
                self.done.add(n)
        return len(self.layers) - 1

    def source(self, n: str, current: bool = False) -> int:
        """The layer n reads: its input's, or a merge of its inputs (currents)."""
        srcs = [self.value[p] for p in self.pred[n]]
        if len(srcs) == 1:
            j = srcs[0]
            if current and self.layers[j].spiking:
                raise NirError(f"{self.at(n)}: reads spikes without a synapse; lava-msf's neurons read currents")
            return j
        spiking = [self.layers[j].name for j in srcs if self.layers[j].spiking]
        if spiking:
            raise NirError(f"{self.at(n)}: sums spikes of {spiking[0]} with other inputs; lava-msf sums currents "
                           f"(give each input its own synapse)")
        shape = self.layers[srcs[0]].shape
        return self.add(Layer(f"{n}.merge", "merge", shape, tuple(srcs)))

    def check_shape(self, n: str, j: int) -> None:
        if _norm(self.shapes[n]) != tuple(self.layers[j].shape):
            raise NirError(f"{self.at(n)}: reads a flattened {self.layers[j].shape}; lava-msf flattens only into "
                           f"a dense layer")

    # --- quantization ----------------------------------------------------
    def weights(self, n: str, w: np.ndarray, scale: float, rep: dict):
        """Float weights -> (W, e): exact when w * scale is W * 2**e / 64 within
        Loihi's range (the hinted exponent first), else quantize_weight's (reported)."""
        w = np.asarray(w, dtype=np.float64) * scale
        hint = self.hint(n, "weight_exp")
        chosen = quantize_weight(w)[1]
        for e in ([hint] if isinstance(hint, int) else []) + [chosen]:
            if WEIGHT_EXP_RANGE[0] <= e <= WEIGHT_EXP_RANGE[1]:
                m = w * fx.WEIGHT_SCALE / 2.0 ** e
                if (m == np.rint(m)).all() and m.min() >= WEIGHT_MIN and m.max() <= READ_WEIGHT_MAX:
                    rep.update(weight_exp=e, weight_rel_error=0.0)
                    return m.astype(np.int64), e
        W, e = quantize_weight(w)
        peak = float(np.abs(w).max())
        rep.update(weight_exp=e, weight_rel_error=float(np.abs(W * 2.0 ** e / fx.WEIGHT_SCALE - w).max() / peak))
        return W, e

    def bias(self, b, scale: float, rep: dict, key: str = "bias"):
        """Float bias (current or voltage, float units) -> mantissa units (None when zero)."""
        b = np.asarray(b, dtype=np.float64)
        if not b.any():
            return None
        q = np.rint(b * scale * fx.WEIGHT_SCALE)
        err = float(np.abs(q / (scale * fx.WEIGHT_SCALE) - b).max())
        if not _exact(q, b * scale * fx.WEIGHT_SCALE):
            rep[f"{key}_max_error"] = err
        return q.astype(np.int64)

    def neuron(self, m: str, gain: float, rep: dict):
        """(LifParams without threshold, float threshold, float voltage bias (C,)) of neuron node m."""
        return lif.params(self.nodes[m], self.dt, gain, self.at(m), rep)

    # --- nodes -----------------------------------------------------------
    def run(self):
        self.structure()
        attention = {n: found for n in self.order if self.hint(n, "type") == "sdsa"
                     and (found := sdsa.recognize(self, n)) is not None}
        member = {m: n for n, found in attention.items() for m in found[0]}
        for n in self.order:
            if n in self.done:
                continue
            kind = _kind(self.nodes[n])
            if n in member:  # an SDSA subgraph: one layer when its mask is reached (its sources are then read)
                if n in attention:
                    self.sdsa_layer(n, *attention[n])
                continue
            if kind == "Input":
                self.input_layer(n)
            elif kind in SYNAPSES:
                self.synapse(n)
            elif kind in lif.NODES:
                self.neuron_layer(n)
            elif kind == "Scale":
                self.scale(n)
            elif kind in ("Flatten", "Output"):
                self.value[n] = self.value[self.pred[n][0]]
                self.done.add(n)
            elif kind in READOUTS:
                raise NirError(f"{self.at(n)}: lava-msf imports an {kind} readout only as the sole consumer of a "
                               f"synapse (Affine, Linear, Conv2d, pool), whose current it then is")
            else:  # Delay
                raise NirError(f"{self.at(n)}: lava-msf imports a Delay only between a synapse and its neuron")
        if self.value[self.output] != len(self.layers) - 1:
            raise NirError(f"{self.at(self.output)}: does not read the graph's last layer")
        net = Network(self.layers, self.timesteps, {"source": "nir", "nir_dt": self.dt})
        net.validate(self.where)
        self.report["exact"] = not any(set(r) - {"weight_exp", "weight_rel_error"} or r.get("weight_rel_error")
                                       for r in self.report["quantization"].values())
        return net, self.report

    def input_layer(self, n: str) -> None:
        node_shape = _norm(self.shapes[n])
        scale = self.follow(n, ("Scale",))
        k = 0
        if scale is not None:
            s = np.asarray(self.nodes[scale].scale, dtype=np.float64).reshape(-1)
            k = -math.log2(s[0]) if s[0] > 0 and (s == s[0]).all() else math.nan
            if not (float(k).is_integer() and 0 <= k <= MAX_INPUT_SHIFT):
                scale, k = None, 0  # another Scale: left to its own rule (refused there)
            k = int(k)
        m = self.follow(scale or n, lif.NODES)
        layer = Layer(n, "input", node_shape)
        t = {key: self.hint(n, f"transform_{key}") for key in ("weight", "bias")}
        if any(isinstance(v, int) for v in t.values()):
            layer.attrs["transform"] = {key: v for key, v in t.items() if isinstance(v, int)}
        rep = {}
        if m is not None:  # the frame is the neuron's current in mantissa units: x / 64 in float units
            p, threshold, bias = self.neuron(m, fx.WEIGHT_SCALE * 2.0 ** -k, rep)
            if np.any(bias):
                raise NirError(f"{self.at(m)}: an input neuron has no bias in lava-msf (NetX builds none)")
            layer.neuron = fx.LifParams(vth_mant=lif.threshold_mant(threshold, self.at(m), rep),
                                        i_decay=p.i_decay, v_decay=p.v_decay)
        elif k:
            layer.attrs["value_shift"] = k
        if rep:
            self.report["quantization"][n] = rep
        self.add(layer, n, scale, m)

    def synapse(self, n: str) -> None:
        node, kind = self.nodes[n], _kind(self.nodes[n])
        src = self.source(n)
        out_shape = _norm(self.shapes[n])
        rep = {}
        if kind in ("SumPool2d", "AvgPool2d") and self.is_mean(n, src):
            return self.mean(n, src, rep)
        scale = self.follow(n, ("Scale",))
        delay = self.follow(scale or n, ("Delay",))
        m = self.follow(delay or scale or n, lif.NODES)
        li = None if m is not None else self.follow(delay or scale or n, READOUTS)
        c_out = out_shape[0]
        if kind in ("Affine", "Linear"):
            w = np.asarray(node.weight, dtype=np.float64)
            b = np.asarray(node.bias, dtype=np.float64) if kind == "Affine" else np.zeros(c_out)
            attrs, type_ = {}, "dense"
            if self.hint(n, "type") == "average" and m is None and scale is None and delay is None:
                return self.average(n, src, w, b)
        elif kind == "Conv2d":
            w, b = np.asarray(node.weight, dtype=np.float64), np.asarray(node.bias, dtype=np.float64)
            _, stride, padding, dilation, groups = self.geometry(n)
            attrs, type_ = {"stride": _compact(stride), "padding": _compact(padding), "groups": groups}, "conv"
            if dilation != (1, 1):
                attrs["dilation"] = _compact(dilation)
        else:
            kernel, stride, padding, _, _ = self.geometry(n)
            w = np.ones((1, 1, *kernel)) / (math.prod(kernel) if kind == "AvgPool2d" else 1)
            b = np.zeros(c_out)
            attrs, type_ = {"stride": stride[0], "padding": padding[0], "dilation": 1}, "pool"
        if scale is not None:  # folded into the weights: per output channel (or one value)
            s = np.broadcast_to(np.asarray(self.nodes[scale].scale, dtype=np.float64), self.shapes[n])
            s = s.reshape(c_out, -1)
            if not (s == s[:, :1]).all():
                raise NirError(f"{self.at(scale)}: a Scale after a synapse must be one value per channel")
            s = s[:, 0]
            if type_ == "pool" and not (s == s[0]).all():
                raise NirError(f"{self.at(scale)}: a Scale after a pool must be one value (lava-msf's pool has "
                               f"one kernel)")
            w = w * (s[0] if type_ == "pool" else s.reshape((-1,) + (1,) * (w.ndim - 1)))
            b = b * s
        if li is not None:
            gain, offset = self.readout(li)
            w, b = w * gain, b * gain + offset
        if type_ == "pool" and (kernel[0] != kernel[1] or len(set(stride)) > 1 or len(set(padding)) > 1):
            type_, w = "conv", np.broadcast_to(w, (c_out, 1, *kernel)).copy()  # a depthwise conv does it
            attrs = {"stride": _compact(stride), "padding": _compact(padding), "groups": c_out}
        layer = Layer(n, type_, out_shape, (src,), attrs=attrs)
        if delay is not None:
            layer.delay = self.delays(delay, c_out, rep)
        if m is not None:
            rounded = {}
            p, threshold, vbias = self.neuron(m, 1.0, rounded)
            if b.any() and p.i_decay != fx.DECAY_UNITY:  # a constant input into a decaying current: its own layer
                m = None
            else:
                vbias = vbias + b
                rep.update(rounded)
        rec = self.recurrent.get(m)
        if rec is not None:  # one exponent for both matrices, as NetX's RecurrentDense
            if type_ != "dense" or m is None:
                raise NirError(f"{self.at(rec)}: lava-msf's recurrence is a dense layer's (dense_rec)")
            r = self.nodes[rec]
            if _kind(r) == "Affine" and np.any(r.bias):
                raise NirError(f"{self.at(rec)}: a recurrent Affine's bias is not imported (fold it into v_leak)")
            layer.type, w = "dense_rec", np.concatenate([w, np.asarray(r.weight, dtype=np.float64)], axis=1)
        if m is None:
            layer.weight, layer.weight_exp = self.weights(n, w, 1.0, rep)
            layer.bias = self.bias(b, 1.0, rep)
            self.report["quantization"][n] = rep
            self.add(layer, n, scale, delay, li)
            return
        gain = self.gain(n, w, threshold, vbias, rep)
        layer.weight, layer.weight_exp = self.weights(n, w, gain, rep)
        layer.bias = self.bias(vbias, gain, rep)
        layer.neuron = fx.LifParams(vth_mant=lif.threshold_mant(threshold, self.at(m), rep, gain),
                                    i_decay=p.i_decay, v_decay=p.v_decay)
        if gain != 1:
            rep["scaled_by"] = gain
        if rec is not None:
            layer.weight, layer.attrs["weight_rec"] = self.split_recurrent(n, layer, w * gain, rep)
        self.report["quantization"][n] = rep
        self.add(layer, n, scale, delay, m, rec)

    def readout(self, n: str):
        """(gain, per-channel offset) of an LI or CubaLI node n read as the current of
        the synapse before it: exact when its time constants are dt (Euler: v[t] =
        r w_in I[t] + v_leak, no memory). A longer one integrates over steps: a
        voltage that no lava-msf layer emits (its neurons emit spikes, Sigma sums
        without leak), refused."""
        node, kind, at = self.nodes[n], _kind(self.nodes[n]), self.at(n)
        for key in ("tau",) if kind == "LI" else ("tau_syn", "tau_mem"):
            tau = lif._one(key, getattr(node, key), at)
            if not _exact(self.dt / tau, 1.0):
                raise NirError(f"{at}: {key} = {tau:g} is not dt = {self.dt:g}: a leaky readout integrates over "
                               f"steps, and no lava-msf layer emits a voltage (exact only with every tau = dt)")
        gain = lif._one("r", node.r, at) * (lif._one("w_in", node.w_in, at) if kind == "CubaLI" else 1.0)
        leak = np.asarray(node.v_leak, dtype=np.float64)
        leak = leak.reshape(leak.shape[0], -1) if leak.ndim > 1 else leak.reshape(-1, 1)
        if not np.allclose(leak, leak[:, :1], rtol=lif.EXACT, atol=0):
            raise NirError(f"{at}: v_leak differs within a channel; a synapse's bias is one per channel")
        return gain, leak[:, 0]

    def split_recurrent(self, n: str, layer, w, rep: dict):
        """The forward and recurrent weights of a dense_rec (the latter even, as it requires)."""
        c_in = w.shape[1] - w.shape[0]
        if (layer.weight[:, c_in:] % 2).any():
            mant, layer.weight_exp = quantize_weight(w)
            rep.update(weight_exp=layer.weight_exp, weight_rel_error=float(
                np.abs(mant * 2.0 ** layer.weight_exp / fx.WEIGHT_SCALE - w).max() / np.abs(w).max()))
            layer.weight = mant
        return layer.weight[:, :c_in], layer.weight[:, c_in:].copy()

    def gain(self, n: str, w, threshold: float, vbias, rep: dict) -> float:
        """The factor a spiking layer's weights, bias and threshold are scaled by (its
        spikes stay the same): 1 when they are exact as they are, else a power of two
        that brings the threshold mantissa near THRESHOLD_TARGET within the weight
        exponent's and the bias's range, times (when the weights round) the factor in
        [1, 2) that puts the largest weight on the largest mantissa (the rounding step
        is then the finest the exponent allows: up to half that of a power of two alone)."""
        trial = {}
        self.weights(n, w, 1.0, trial)
        exact_threshold = _exact(round(threshold * fx.WEIGHT_SCALE), threshold * fx.WEIGHT_SCALE)
        if not trial["weight_rel_error"] and exact_threshold and _exact(np.rint(vbias * 64), vbias * 64):
            return 1.0
        if threshold <= 0:
            return 1.0
        p = math.floor(math.log2(THRESHOLD_TARGET / (threshold * fx.WEIGHT_SCALE)))
        p = min(p, WEIGHT_EXP_RANGE[1] - trial["weight_exp"])
        peak = float(np.abs(vbias).max(initial=0)) * fx.WEIGHT_SCALE
        if peak:
            p = min(p, math.floor(math.log2((BIAS_LIMIT - 1) / peak)) - 1)  # room for the factor below 2
        top = float(np.abs(w).max(initial=0)) * fx.WEIGHT_SCALE * 2.0 ** p  # largest weight, mantissa units
        e = self.weights(n, w, 2.0 ** p, {})[1]
        fill = 1.0
        if top and trial["weight_rel_error"] and WEIGHT_EXP_RANGE[0] < e:  # (exact weights stay exact)
            fill = min(max((WEIGHT_MAX - 1e-6) / (top / 2.0 ** e), 1.0), 2.0 - 1e-9)
        return 2.0 ** p * fill

    def delays(self, n: str, c_out: int, rep: dict) -> np.ndarray:
        d = np.asarray(self.nodes[n].delay, dtype=np.float64) / self.dt
        d = np.broadcast_to(d, self.shapes[n]).reshape(c_out, -1)
        if not (d == d[:, :1]).all():
            raise NirError(f"{self.at(n)}: delays must be one per channel (lava-msf's per-output delays)")
        steps = np.rint(d[:, 0])
        if (steps < 0).any() or steps.max(initial=0) > delays.MAX_DELAY:
            raise NirError(f"{self.at(n)}: delays must be 0..{delays.MAX_DELAY} steps of dt = {self.dt:g}")
        if not _exact(steps, d[:, 0]):
            rep["delay_max_error_steps"] = float(np.abs(steps - d[:, 0]).max())
        return steps.astype(np.int64)

    def is_mean(self, n: str, src: int) -> bool:
        """A pool over all tokens of a current: lava-msf's token mean."""
        if self.hint(n, "type") is not None:
            return self.hint(n, "type") == "mean"
        kernel, _, padding, _, _ = self.geometry(n)
        return not self.layers[src].spiking and tuple(kernel) == tuple(self.layers[src].shape[1:]) \
            and padding == (0, 0)

    def mean(self, n: str, src: int, rep: dict) -> None:
        hw = math.prod(self.layers[src].shape[1:])
        s = 1.0 / hw if _kind(self.nodes[n]) == "AvgPool2d" else 1.0
        scale = self.follow(n, ("Scale",))
        if scale is not None:
            values = np.asarray(self.nodes[scale].scale, dtype=np.float64).reshape(-1)
            if not (values == values[0]).all():
                raise NirError(f"{self.at(scale)}: a token mean's Scale must be one value")
            s *= float(values[0])
        hint = self.hint(n, "scale_shift")
        shifts = ([hint] if isinstance(hint, int) and 0 <= hint <= SHIFT_MAX else []) + list(range(SHIFT_MAX + 1))
        k = next((k for k in shifts if float(s * 2 ** k).is_integer()), SHIFT_MAX)
        mant = int(round(s * 2 ** k))
        if mant != s * 2 ** k:
            rep["scale_rel_error"] = abs(mant / 2 ** k - s) / s
        if not 0 <= mant * hw <= GAIN_MAX << k:
            raise NirError(f"{self.at(n)}: scale {s:g} over {hw} tokens is outside lava-msf's token mean")
        if rep:
            self.report["quantization"][n] = rep
        self.add(Layer(n, "mean", (self.layers[src].shape[0], 1, 1), (src,),
                       attrs={"scale_mant": mant, "scale_shift": k}), n, scale)

    def average(self, n: str, src: int, w, b) -> None:
        layer = Layer(n, "average", _norm(self.shapes[n]), (src,))
        from ..layers import spec

        ones = spec("average").groups(Network([*self.layers, layer], 0), layer)
        if b.any() or w.shape != ones.shape or not (w == ones).all():
            raise NirError(f"{self.at(n)}: marked an average but its weights are not ones per group")
        self.add(layer, n)

    def neuron_layer(self, m: str) -> None:
        if m in self.recurrent:
            raise NirError(f"{self.at(self.recurrent[m])}: lava-msf's recurrence is a dense layer's (dense_rec)")
        src = self.source(m, current=True)
        self.check_shape(m, src)
        rep = {}
        p, threshold, vbias = self.neuron(m, 1.0, rep)
        layer = Layer(m, "neuron", self.layers[src].shape, (src,), bias=self.bias(vbias, 1.0, rep))
        layer.neuron = fx.LifParams(vth_mant=lif.threshold_mant(threshold, self.at(m), rep), i_decay=p.i_decay,
                                    v_decay=p.v_decay)
        if rep:
            self.report["quantization"][m] = rep
        self.add(layer, m)

    def sdsa_layer(self, n: str, members, sources, attrs: dict, neuron) -> None:
        srcs = tuple(self.value[s] for s in sources)
        self.add(Layer(n, "sdsa", self.layers[srcs[0]].shape, srcs, neuron=neuron, attrs=attrs), *members)

    def scale(self, n: str) -> None:
        s = np.asarray(self.nodes[n].scale, dtype=np.float64)
        if not (s == 1).all():
            raise NirError(f"{self.at(n)}: lava-msf folds a Scale into the synapse before it, or reads a Scale "
                           f"2**-k after the Input; this one is neither")
        if len(self.pred[n]) == 1:  # identity
            self.value[n] = self.value[self.pred[n][0]]
            self.done.add(n)
            return
        srcs = tuple(self.value[p] for p in self.pred[n])
        spiking = [self.layers[j].name for j in srcs if self.layers[j].spiking]
        if spiking:
            raise NirError(f"{self.at(n)}: sums spikes of {spiking[0]}; lava-msf's merge sums currents")
        self.add(Layer(n, "merge", self.layers[srcs[0]].shape, srcs), n)


def _compact(p: tuple):
    return int(p[0]) if p[0] == p[1] else tuple(int(v) for v in p)


def import_nir(graph, dt: float | None = None, timesteps: int | None = None, where: str = "NIR graph"):
    """A NIR graph as a lava-msf Network for time step `dt` (default: the graph's
    lava_msf_dt hint, else DT) and `timesteps` (default: the hint, else 0).
    Returns (network, report): per layer what was rounded (weight_rel_error: the
    largest |error| over the largest |weight|; threshold, decays, biases, delays),
    and `exact`: nothing was. NirError names the node; GraphError the layer."""
    return Import(graph, dt, timesteps, where).run()
