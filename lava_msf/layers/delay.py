"""Synaptic delays of conv and dense (NetX's `delay` key), kept apart from the
synapse arithmetic (layers/synapse.py calls this module).

A delay is a non-negative integer per synapse, given in one of the forms NetX
accepts for dense: one value, one per output, one per input, or the full
weight-shaped array (for conv: one per output channel, per input channel or
per kernel tap). A 1-D delay whose length fits both outputs and inputs is per
output, as in NetX. Delays above MAX_DELAY are clamped to it with a warning,
as NetX clamps (Loihi 2: 6 delay bits, Lava's DelayDense buffer of 63 slots).
Stock NetX applies dense delays and ignores the key on conv; lava-msf applies
both.

Semantics (Lava's DelayDense and DelaySparse, bit for bit): the weights split into delay
classes; each step every class's weighted sum is shifted by the synapse's
exponent on its own and lands `d` steps later, so the current at step t is
  a(t) = sat24(sum_d shift(W_d x(t - d), e - g) + b).
Delay 0 is an ordinary synapse. The state is the queue of pending sums.
"""

import warnings

import numpy as np

from .. import fixedpoint as fx
from ..errors import LavaMsfWarning, NetFileError
from . import hdf5
from .base import need

MAX_DELAY = 62  # NetX's clamp (DelayDense's max_delay)


def read(g, at):
    """The `delay` key as stored (validated, clamped), or None."""
    if "delay" not in g:
        return None
    d = hdf5.ints(g, "delay", at)
    if d.size and d.min() < 0:
        raise NetFileError(f"{at}: key 'delay' has negative values (down to {int(d.min())})")
    if d.size and d.max() > MAX_DELAY:
        warnings.warn(f"{at}: key 'delay' up to {int(d.max())} clamped to {MAX_DELAY}, as NetX does",
                      LavaMsfWarning, stacklevel=2)
        d = np.minimum(d, MAX_DELAY)
    return d


def write(g, layer) -> None:
    if layer.delay is not None:
        g.create_dataset("delay", data=np.asarray(layer.delay, dtype=np.int64))


def _groups(layer) -> int:
    return int(layer.attrs.get("groups", 1))  # conv's; dense has one


def expand(layer) -> np.ndarray:
    """The delay of every synapse: an int64 array of the weight's shape."""
    w, d, groups = layer.weight, np.asarray(layer.delay, dtype=np.int64), _groups(layer)
    if d.ndim == 0 or d.shape == w.shape:
        return np.broadcast_to(d, w.shape).copy()
    c_out, c_in_g = w.shape[:2]
    tail = (1,) * (w.ndim - 2)
    if d.shape == (c_out,):  # per output (NetX's "axonal delays to syn")
        return np.broadcast_to(d.reshape(c_out, 1, *tail), w.shape).copy()
    # per input: output o of group k reads inputs k * c_in_g ... (k + 1) * c_in_g - 1
    first = (np.arange(c_out) // (c_out // groups) * c_in_g)[:, None] + np.arange(c_in_g)[None, :]
    return np.broadcast_to(d[first].reshape(c_out, c_in_g, *tail), w.shape).copy()


def forms(layer) -> list:
    """The shapes a delay of this synapse may have."""
    w = layer.weight
    return [(), (w.shape[0],), (w.shape[1] * _groups(layer),), tuple(w.shape)]


def check(layer, at: str) -> None:
    d = layer.delay
    need(isinstance(d, np.ndarray) and np.issubdtype(d.dtype, np.integer), at, "key 'delay' must hold integers")
    shapes = forms(layer)
    need(d.shape in shapes, at, f"key 'delay' of shape {d.shape} fits none of {shapes[1:]} (per output, per "
         f"input, per synapse) nor one value")
    need(d.size == 0 or 0 <= int(d.min()) and int(d.max()) <= MAX_DELAY, at,
         f"key 'delay' must hold delays in 0..{MAX_DELAY}")


def per_output(layer) -> np.ndarray | None:
    """The delay of each output when every synapse into it has the same one, else None."""
    d = expand(layer)
    flat = d.reshape(d.shape[0], -1)
    return flat[:, 0].copy() if (flat == flat[:, :1]).all() else None


def span(layer) -> int:
    """Steps a sum can wait: the largest delay plus one."""
    return int(np.max(layer.delay, initial=0)) + 1


def initial_state(layer, batch: int, be):
    """(pending sums, step): value j of the layer waits in column j * span + slot,
    slot (t + d) % span for a sum due d steps after step t."""
    return be.zeros((batch, layer.size * span(layer))), 0


def reference(layer, synapse, shift: int, bias, be):
    """op(x, state) -> (current, state); synapse(weight) is the weighted sum of
    the input as a function of (N, C, H, W)."""
    d, n = expand(layer), span(layer)
    base = np.arange(layer.size) * n
    out_delay = per_output(layer)
    if out_delay is not None:  # one sum; each output waits its own delay (the axonal form)
        whole = synapse(be.asint(layer.weight))
        lag = np.repeat(out_delay, layer.size // layer.shape[0])  # per value, (C, H, W) order

        def terms(x):
            return [(lag, fx.shift(whole(x), shift))]
    else:  # a weighted sum per delay class, each shifted on its own (as Lava's DelayDense)
        classes = [(k, synapse(be.asint(np.where(d == k, layer.weight, 0)))) for k in np.unique(d)]

        def terms(x):
            return [(k, fx.shift(s(x), shift)) for k, s in classes]

    def op(src, state):
        pending, t = state
        for lag, y in terms(src[0]):
            pending[:, be.asint(base + (t + lag) % n)] += y.reshape(y.shape[0], -1)
        now = be.asint(base + t % n)
        a = pending[:, now].reshape(-1, *layer.shape)
        pending[:, now] = 0
        return fx.saturate_synapse(a + bias), (pending, (t + 1) % n)
    return op


def state_elements(layer) -> int:
    """The pending sums, and (unless per output) one masked weight copy per delay class, in int64 units."""
    from ..graph import WEIGHT_BYTES

    copies = 0 if per_output(layer) is not None else len(np.unique(expand(layer))) * layer.weight.size
    return span(layer) * layer.size + copies * WEIGHT_BYTES // 8


def gate_classes(layer, steps: int) -> np.ndarray:
    """The delay classes the decomposed gate (lava_decomposed) passes when samples
    are `steps` long: those of nonzero weights below `steps` (a sum due a whole
    sample later never lands in its own sample); at least class 0."""
    d = expand(layer)[layer.weight != 0]
    classes = np.unique(d[d < steps])
    return classes if len(classes) else np.zeros(1, np.int64)


def gate_counts(layer, n_in: int, steps: int) -> tuple:
    """(neurons, synapses) of the decomposed gate: per class a product neuron per
    input (fed by the input and the class's gate), one gate per class, and a clock
    (with its self-synapse) when some class must be shut."""
    classes = gate_classes(layer, steps)
    n, shut = len(classes), int((classes > 0).sum())
    return n * n_in + n + (shut > 0), 2 * n * n_in + shut + (shut > 0)


def resources(layer, row: dict, n_in: int, steps: int) -> None:
    """delay_bits; on the chip (decomposed, samples of `steps` reset) the gate's
    neurons and synapses are the layer's too."""
    row["delay_bits"] = (span(layer) - 1).bit_length()
    neurons, synapses = gate_counts(layer, n_in, steps if steps > 0 else MAX_DELAY + 1)
    row["neurons"] += neurons
    row["synapses"] += synapses
    row["gate_neurons"] = neurons


def synapse_entries(weight_shape, in_shape, out_shape, stride, padding, groups, dilation):
    """Every synapse of a conv (weight (O, C/groups, kH, kW), geometry as (y, x)
    pairs) between (C, H, W) -> (O, H', W'): (rows, cols, taps), the output and
    input indices flat in Lava's (W, H, C) order and the tap's flat weight index."""
    o_n, cg, kh, kw = weight_shape
    c_n, h, w = in_shape
    _, ho, wo = out_shape
    (sy, sx), (py, px), (dy, dx) = stride, padding, dilation
    o, oy, ox, c, j, i = np.ix_(np.arange(o_n), np.arange(ho), np.arange(wo), np.arange(cg), np.arange(kh),
                                np.arange(kw))
    iy, ix = oy * sy - py + j * dy, ox * sx - px + i * dx
    ci = o // (o_n // groups) * cg + c
    full = np.broadcast_shapes(o.shape, oy.shape, ox.shape, c.shape, j.shape, i.shape)
    ok = np.broadcast_to((iy >= 0) & (iy < h) & (ix >= 0) & (ix < w), full)
    rows = np.broadcast_to((ox * ho + oy) * o_n + o, full)[ok]
    cols = np.broadcast_to((ix * h + iy) * c_n + ci, full)[ok]
    taps = np.broadcast_to(((o * cg + c) * kh + j) * kw + i, full)[ok]
    return rows, cols, taps


# The per-sample gate of the decomposed delays (chip LIFs, Lava's fixed-point units)
OPEN = {"du": 0, "dv": 4095, "bias_mant": 1, "bias_exp": 6, "vth": 0}  # fires every step while its u is 0
SHUT = -128  # the weight that shuts one (its u holds it: du = 0) until its reset


def lava_decomposed(b, i, layer, ports, shift: int, graded_bits: int):
    """A delayed conv or dense synapse from Lava's stock processes: every synapse
    of the layer (synapse_entries) with its delay in one DelaySparse, then the
    layer's neuron (else its current goes on, as the other backends' does).
    One hop more than an undelayed synapse (Synapse.latency): the hop that, with
    per-sample resets, drops the sums that would land in the next sample (_gated);
    on an unreset stream every delay is one step longer instead."""
    from scipy.sparse import csr_matrix
    from lava.proc.sparse.process import DelaySparse
    from lava.utils.weightutils import clip_weights, determine_sign_mode, truncate_weights

    from ..intconv import pair
    from ..runtime.builder import NEVER, BuildError
    from ..runtime.proc.stock import GRADED_BITS
    from . import spec

    at = f"layer {i} ({layer.name})"
    if layer.bias is not None and layer.neuron is None:
        raise BuildError(f"{at}: key 'bias': Lava's stock DelaySparse adds no bias to a delayed synapse without a "
                         f"neuron; use --backend lava-cpu")
    if b.current_bounds[i] > fx.SYNAPSE_MAX:
        raise BuildError(f"{at}: key 'delay': its sum may reach {b.current_bounds[i]}, past the 24-bit range, "
                         f"and Lava's stock DelaySparse cannot saturate it as the other backends do; "
                         f"use --backend lava-cpu")
    src = b.net.layers[layer.inputs[0]]
    weight, stride, padding, groups, dilation = spec(layer).lava_conv(layer, src)
    rows, cols, taps = synapse_entries(weight.shape, src.shape, layer.shape, pair(stride), pair(padding), groups,
                                       pair(dilation))
    w, d = weight.ravel()[taps], expand(layer).ravel()[taps]
    mode = determine_sign_mode(w)
    if (truncate_weights(clip_weights(w, mode, 8), mode, 8) != w).any():
        raise BuildError(f"{at}: key 'weight': Lava's stock DelaySparse keeps mixed-sign weights even (it drops the "
                         f"lowest bit) and this layer has odd ones; use --backend lava-cpu")
    keep = w != 0
    if b.reset_interval == NEVER:
        x, d = ports[0].flatten(), d + 1
    else:
        keep &= d < b.reset_interval  # a sum due a whole sample later never lands in its own sample
        x, cols = _gated(b, i, layer, ports[0], graded_bits, gate_classes(layer, b.reset_interval), d, cols)
        graded_bits = GRADED_BITS  # the gates' products
    late = keep & (d > 0)
    shape = (layer.size, x.size)
    syn = b.add(DelaySparse(weights=csr_matrix((w[keep].astype(np.int32), (rows[keep], cols[keep])), shape=shape),
                            delays=csr_matrix((d[late].astype(int), (rows[late], cols[late])), shape=shape),
                            max_delay=int(d[keep].max(initial=0)), weight_exp=shift,
                            num_message_bits=graded_bits, name=f"{i}:{layer.name}"))
    x.connect(syn.s_in)
    out = syn.a_out.reshape(b.shape(i))
    if layer.neuron is None:
        return out
    lif = b.add(b.lif(i, f"{i}:{layer.name}/neuron"))
    out.connect(lif.a_in)
    return lif.s_out


def _gated(b, i, layer, port, graded_bits: int, classes, d, cols):
    """With resets every R steps: the input copied once per delay class c into
    product neurons (input times the class's gate, 0 or 1); gate c is open from
    the sample's first step until R - c steps before its end, shut by a clock
    neuron that fires once per sample, R - 1 - (the largest class) steps after
    its first, and reaches gate c (the largest class - c) steps later (a stock
    delay: at most 61). An input of sample step t thus passes into class c iff
    t + c < R, as the reference drops the sums due in the next sample. Returns
    the product neurons' output and each synapse's column among them."""
    from scipy.sparse import csr_matrix
    from lava.proc.lif.process import LIFReset
    from lava.proc.prodneuron.process import ProdNeuron
    from lava.proc.sparse.process import DelaySparse, Sparse

    r, n, n_in = b.reset_interval, len(classes), int(np.prod(port.shape))
    last = int(classes.max(initial=0))
    name, first = f"{i}:{layer.name}", (b.lat[layer.inputs[0]] + 1) % r  # the sample's first step at the input
    gate = b.add(LIFReset(shape=(n,), u=0, v=0, reset_interval=r, reset_offset=first, name=f"{name}/gate", **OPEN))
    copy = ProdNeuron(shape=(n * n_in,), vth=0, exp=0)
    copy.name = f"{name}/gated"  # (its constructor takes no name)
    b.add(copy)

    def link(label, src, dst, rows, cols, weight, delays=None, bits=0):
        shape = (dst.shape[0], src.size)
        w = csr_matrix((np.full(len(rows), weight, dtype=np.int32), (rows, cols)), shape=shape)
        if delays is None:
            syn = Sparse(weights=w, num_message_bits=bits, name=f"{name}/{label}")
        else:
            on = delays > 0
            syn = DelaySparse(weights=w, delays=csr_matrix((delays[on], (rows[on], cols[on])), shape=shape),
                              max_delay=int(delays.max(initial=0)), name=f"{name}/{label}")
        b.add(syn)
        src.connect(syn.s_in)
        syn.a_out.connect(dst)

    copies = np.arange(n * n_in)
    link("copy", port.flatten(), copy.a_in1, copies, copies % n_in, 1, bits=graded_bits)
    link("open", gate.s_out, copy.a_in2, copies, copies // n_in, 1)
    shut = np.flatnonzero(classes > 0)
    if len(shut):  # class 0 is never shut
        clock = b.add(LIFReset(shape=(1,), u=SHUT << 6, v=0, reset_interval=r, name=f"{name}/clock",
                               reset_offset=(first + r - 1 - last) % r, **OPEN))  # u: shut until its first reset
        link("tick", clock.s_out, clock.a_in, np.zeros(1, int), np.zeros(1, int), SHUT)  # fires once per sample
        link("shut", clock.s_out, gate.a_in, shut, np.zeros(len(shut), int), SHUT,
             delays=(last - classes[shut]).astype(int))
    return copy.s_out, np.searchsorted(classes, np.minimum(d, last)) * n_in + cols
