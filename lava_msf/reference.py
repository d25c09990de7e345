"""Fixed-point reference executor: runs a lava_msf.graph.Network step by step
with integer arithmetic. It defines what "bit-exact" means for the Lava runtime.

The layer semantics are written once, here, against a small array backend:
`NumpyBackend` (this module) for the reference itself and a torch backend
(lava_msf.export.torch_backend) for batched evaluation. Both compute
convolutions and contractions in floating point where it is exact (integer
partial sums below 2**24 in float32, 2**53 in float64) and everything else in
int64.

Per step and layer, the layer's type (lava_msf.layers.<type>, its docstring
states the formula) computes `a` from its inputs' values; a layer with a
neuron feeds `a` to its model (lava_msf.neurons: the LIF of lava_msf.fixedpoint,
sigma-delta), its bias entering the neuron shifted as the model says (b << 6
into a LIF's voltage, as NetX's), and emits the model's output (spikes or
graded values).

`step()` is the readable definition, one step and layer at a time; `run()` and
`advance()` compute the same values layer-major over a window of steps (each
stateless layer's function once on all the window's frames, its neuron's
compiled time loop after it; a conv's shift, bias and saturation in the same
compiled pass as its LIF), which tests/test_fast_executor.py checks bit for
bit against step() on every layer type and neuron model.
"""

import numpy as np

from . import fixedpoint as fx
from . import intconv
from .graph import Network
from .layers import spec
from .neurons import model_of


class NumpyBackend:
    """int64 numpy arrays; convolutions and products exact through BLAS
    (lava_msf.intconv)."""

    @staticmethod
    def zeros(shape):
        return np.zeros(shape, dtype=np.int64)

    @staticmethod
    def asint(x):
        return np.asarray(x).astype(np.int64)

    @staticmethod
    def conv(w, stride, padding, groups, dilation=1):
        return intconv.Conv2d(w, stride, padding, groups, dilation)

    @staticmethod
    def conv_transpose(w, stride, padding, dilation, groups):
        return intconv.conv_transpose(w, stride, padding, dilation, groups)

    @staticmethod
    def linear(w):
        return intconv.Linear(w)

    @staticmethod
    def matmul(a, b):
        return intconv.matmul(a, b)

    @staticmethod
    def sum(x, axes):
        return x.sum(axis=axes)

    @staticmethod
    def stack(xs):
        return np.stack(xs, axis=-1)

    @staticmethod
    def concat(xs):
        return np.concatenate(xs, axis=1)

    @staticmethod
    def from_bool(s):
        return s.astype(np.int64)


def quantize_images(x: np.ndarray) -> np.ndarray:
    """Real-valued pixels in [0, 1] -> 8-bit integers (the stem folds in 256/255)."""
    return np.clip(np.rint(np.asarray(x, dtype=np.float64) * 255), 0, 255).astype(np.int64)


def network_inputs(net: Network, x: np.ndarray) -> np.ndarray:
    """Dataset inputs -> the integer frames (N, C, H, W, T) the network takes:
    images are quantized to 8 bits and repeated over the network's T steps."""
    if x.ndim == 5:
        return np.rint(x).astype(np.int64)
    frames = quantize_images(x) if net.meta.get("input") == "image" else np.rint(x).astype(np.int64)
    return np.repeat(frames[..., None], net.timesteps, axis=-1)


def predictions(readout) -> np.ndarray:
    """Class per sample: argmax of the readout (N, C, H, W, T) summed over T."""
    readout = np.asarray(readout)
    return readout.sum(axis=-1).reshape(len(readout), -1).argmax(axis=1)


class Executor:
    """Runs a Network on integer input frames; keeps neuron state across steps
    until `reset()`. Each layer's arithmetic is its type's (lava_msf.layers)."""

    def __init__(self, net: Network, backend=NumpyBackend, layers=None):
        self.net = net
        self.be = backend
        # `layers`: the indices this executor runs (a Lava process running one layer); default all
        self.built = range(len(net.layers)) if layers is None else tuple(layers)
        self.ops = [spec(layer).reference(net, i, backend) if i in self.built else None
                    for i, layer in enumerate(net.layers)]
        # as in NetX/Lava, a neuron's bias enters the neuron (a LIF's voltage, << 6); a synapse's is its type's
        self.voltage_biases = [0 if layer.neuron is None or layer.bias is None else
                               backend.asint(layer.bias).reshape(1, -1, 1, 1)
                               << model_of(layer.neuron).bias_shift(layer.neuron) for layer in net.layers]
        self.models = [None if layer.neuron is None else model_of(layer.neuron) for layer in net.layers]
        # the fast path's synapses (advance): (intconv.Conv2d, k, bias (O,)) of a conv-like synapse
        self.products = [self._product(i) if backend is NumpyBackend and i in self.built else None
                         for i in range(len(net.layers))]
        self.state = None
        self.layer_state = None  # per layer: a stateful type's own state (delays, recurrence), else None

    def _product(self, i):
        """A synapse's (product, k, bias) of a = sat24(shift(product(x), k) + bias), as its type gives them."""
        parts = getattr(self.ops[i], "parts", None)
        if parts is None:
            return None
        synapse, k, bias = parts
        if not isinstance(synapse, intconv.Conv2d) or synapse.w_bound is None:
            return None
        return synapse, k, np.ascontiguousarray(np.broadcast_to(np.reshape(bias, -1), (synapse.out,)), dtype=np.int64)

    def reset(self, batch: int) -> None:
        self.batch = batch
        layers = [(i, self.net.layers[i]) for i in self.built]
        self.state = {i: model_of(layer.neuron).reset((batch, *layer.neuron_shape), self.be)
                      for i, layer in layers if layer.neuron is not None}
        self.layer_state = {i: spec(layer).initial_state(layer, batch, self.be) for i, layer in layers}

    def layer_step(self, i: int, src: list, fed: bool = True):
        """Layer i's value for one step from its inputs' values (`fed` False: before
        its first input arrives, as in warm_up: its synapse gives zeros)."""
        layer = self.net.layers[i]
        own = self.layer_state[i]
        if not fed:
            a = self.be.zeros((self.batch, *layer.shape))
            a = a if spec(layer).currents == 1 else (a,) * spec(layer).currents
        elif own is None:
            a = self.ops[i](src)
        else:
            a, own = self.ops[i](src, own)
        if layer.neuron is not None:
            out, self.state[i] = model_of(layer.neuron).step(self.state[i], a, layer.neuron,
                                                             self.voltage_biases[i], self.be)
            a = spec(layer).emit(layer, out, src)
        if own is not None:
            self.layer_state[i] = spec(layer).observe(layer, own, a)
        return a

    def step(self, frame, probes: dict | None = None, reached=None):
        """One model time step. frame: (N, C, H, W) int64. Returns the output
        layer's value (N, C, H, W); `probes` (dict) receives every layer's value.
        `reached` (warm_up): per layer, whether NetX's pipeline has reached it
        (if not, its value is zero and its state untouched)."""
        values = []
        for i, layer in enumerate(self.net.layers):
            if reached is not None and not reached[i]:
                values.append(self.be.zeros((self.batch, *layer.shape)))
                continue
            src = [values[j] for j in layer.inputs] or [frame]  # the source layer reads the frame
            # a synapse's first step in Lava: its buffer's initial zeros
            a = self.layer_step(i, src, reached is None or any(reached[j] for j in layer.inputs))
            values.append(a)
            if probes is not None:
                probes.setdefault(layer.name, []).append(a)
        return values[-1]

    def warm_up(self, probes: dict | None = None) -> None:
        """After reset(): the steps stock NetX runs before its input reaches each
        layer (it resets nothing): layer i's neuron runs latency[i] steps on what
        reaches it meanwhile, zeros or what earlier layers emit on their biases
        alone. Then step() continues as NetX's pipeline does, hop delays aligned:
        NetX's block i at Lava step s is model step s - latency[i]. `probes` gets
        these steps' values first (reached layers only)."""
        lat = self.net.latencies()
        for t in range(-max(lat), 0):
            self.step(None, probes, reached=[t >= -d for d in lat])

    def run(self, frames, probes: dict | None = None):
        """frames: (N, C, H, W, T) ints. Resets the state, runs T steps and returns
        the output layer's values stacked over time: (N, C, H, W, T)."""
        self.reset(frames.shape[0])
        return self.advance(frames, probes)

    def advance(self, frames, probes: dict | None = None):
        """frames: (N, C, H, W, W_t) ints. Runs W_t steps on from the current state
        (no reset) and returns the output layer's values stacked over time
        (N, C, H, W, W_t); `probes` as step()'s. The same values as W_t calls of
        step(), computed layer-major: a stateless layer's function is per sample
        and per step, so the W_t frames of its inputs go through it as one batch
        of W_t * N (time-major), and only its neuron steps through time."""
        if self.be is not NumpyBackend:  # other backends: step by step
            return self.be.stack([self.step(frames[..., t], probes) for t in range(frames.shape[-1])])
        wt, n = frames.shape[-1], frames.shape[0]
        x = np.ascontiguousarray(np.moveaxis(np.asarray(frames), -1, 0)).reshape(wt * n, *frames.shape[1:-1])
        values = []
        for i, layer in enumerate(self.net.layers):
            src = [values[j] for j in layer.inputs] or [x.astype(np.int64, copy=False)]
            values.append(self.layer_window(i, src, wt))
            if probes is not None:
                probes.setdefault(layer.name, []).extend(np.split(values[-1], wt))
        return np.moveaxis(values[-1].reshape(wt, n, *values[-1].shape[1:]), 0, -1)

    def layer_window(self, i: int, src: list, wt: int):
        """Layer i over W_t steps: its inputs' values and its own (W_t * N, ...), time-major."""
        layer = self.net.layers[i]
        if self.layer_state[i] is not None:  # stateful (delays, recurrence): step by step
            return np.concatenate([self.layer_step(i, [np.split(s, wt)[t] for s in src]) for t in range(wt)])
        model = self.models[i]
        window = getattr(model, "window", None)
        if self.products[i] is not None:  # the synapse's product, then its arithmetic in one compiled pass
            conv, k, bias = self.products[i]
            acc = conv.product(src[0])
            if window is not None:  # ... with the neuron's
                out, self.state[i] = window(self.state[i], acc, wt, layer.neuron, self.voltage_biases[i], (k, bias))
                return spec(layer).emit(layer, out, src)
            a = np.empty(acc.shape, dtype=np.int64)
            intconv.spike_kernels().synapse_currents(acc, k, bias, fx.SYNAPSE_MIN, fx.SYNAPSE_MAX, a)
            a = a.reshape(len(a), *layer.shape)
        else:
            a = self.ops[i](src)
        if layer.neuron is None:
            return a
        if window is not None:
            out, self.state[i] = window(self.state[i], a, wt, layer.neuron, self.voltage_biases[i])
        else:  # the model's step through time
            outs = []
            for t in range(wt):
                at = tuple(np.split(c, wt)[t] for c in a) if isinstance(a, tuple) else np.split(a, wt)[t]
                out, self.state[i] = model.step(self.state[i], at, layer.neuron, self.voltage_biases[i], self.be)
                outs.append(out)
            out = np.concatenate(outs)
        return spec(layer).emit(layer, out, src)
