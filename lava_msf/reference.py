"""Fixed-point reference executor: runs a lava_msf.graph.Network step by step
with integer arithmetic. It defines what "bit-exact" means for the Lava runtime.

The layer semantics are written once, here, against a small array backend:
`NumpyBackend` (this module) for the reference itself and a torch backend
(lava_msf.export.torch_backend) for batched evaluation. Both compute
convolutions and contractions in floating point where it is exact (integer
partial sums below 2**24 in float32, 2**53 in float64) and everything else in
int64.

Per step t and layer, with shift(x, k) = x << k for k >= 0, else x >> -k (floor):
  input   x_t (integers)
  conv    a = sat24(shift(conv2d(src, W), e - g) + b)   g = value_shift(source): 0 spikes,
                                                    6 currents, the input's own shift
  dense   a = sat24(shift(W @ flatten(src), e - g) + b)
  (sat24: 24-bit saturation of the synaptic accumulator; with a neuron, b is not
  added here but enters the voltage as b << 6, as NetX's bias does)
  neuron  a = src
  merge   a = sum(srcs)
  mean    a = (sum_hw(src) * m) >> k
  sdsa    v2:    a = s * Q (K^T V) per head            -> LIF -> spikes
          v1_kv: a = s * sum_tokens(K & V) per channel -> LIF -> mask; Q & mask
          v1_qk: a = s * sum_c(Q & K) per head, token  -> LIF -> mask; V & mask
  A layer with a neuron feeds `a` to lava_msf.fixedpoint's LIF and emits spikes.
"""

import numpy as np

from . import fixedpoint as fx
from . import intconv
from .graph import Network

CURRENT_INPUT_SHIFT = fx.ACT_SHIFT  # currents are 1/64 units: W * current needs >> 6


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
    def conv(w, stride, padding, groups):
        return intconv.Conv2d(w, stride, padding, groups)

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
    def from_bool(s):
        return s.astype(np.int64)


def shift(x, k: int):
    return x << k if k >= 0 else x >> -k


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


def neuron_shape(layer):
    """Shape of a layer's neuron state: the attention neuron of V1 SDSA forms is
    per channel (v1_kv) or per head and token (v1_qk)."""
    c, h, w = layer.shape
    if layer.type == "sdsa" and layer.attrs["variant"] == "v1_kv":
        return (c, 1, 1)
    if layer.type == "sdsa" and layer.attrs["variant"] == "v1_qk":
        return (int(layer.attrs["heads"]), h, w)
    return (c, h, w)


def sdsa_current(attrs: dict, q, k, v, be):
    """The attention neuron's input from Q, K, V spikes (N, C, H, W): counts of
    coincidences (ANDs of 0/1 values) times the integer scale."""
    n, c, h, w = q.shape
    heads, scale, variant = int(attrs["heads"]), int(attrs["scale"]), attrs["variant"]
    if variant == "v2":
        qh, kh, vh = (z.reshape(n, heads, c // heads, h * w) for z in (q, k, v))
        kv = be.matmul(kh, vh.swapaxes(-1, -2))  # (i, j): sum over tokens of K_i V_j
        return scale * be.matmul(kv.swapaxes(-1, -2), qh).reshape(n, c, h, w)
    if variant == "v1_kv":
        return scale * be.sum(k * v, (2, 3)).reshape(n, c, 1, 1)
    return scale * be.sum((q * k).reshape(n, heads, c // heads, h, w), (2,))


def sdsa_output(attrs: dict, spikes, q, v):
    """SDSA's output spikes from the attention neuron's: v2 emits them, the V1
    forms mask Q (v1_kv) or V (v1_qk) with them."""
    n, c, h, w = q.shape
    variant = attrs["variant"]
    if variant == "v2":
        return spikes
    if variant == "v1_kv":
        return q * spikes
    heads = int(attrs["heads"])
    return (v.reshape(n, heads, c // heads, h, w) * spikes.reshape(n, heads, 1, h, w)).reshape(n, c, h, w)


def value_shift(layer) -> int:
    """Right shift a synapse applies to what `layer` emits: 0 for spikes, 6 for
    currents (1/64 units), the input layer's own `value_shift` for frames."""
    if layer.type == "input":
        return int(layer.attrs.get("value_shift", 0))
    return 0 if layer.spiking else CURRENT_INPUT_SHIFT


def _synapse(layer, weight, be):
    """The layer's weighted sum as a function of its input (N, C, H, W)."""
    if layer.type == "conv":
        return be.conv(weight, *layer.conv_geometry)
    linear = be.linear(weight)
    return lambda x: linear(x.reshape(x.shape[0], -1)).reshape(x.shape[0], -1, 1, 1)


def _synaptic_current(layer, synapse, src_layer, x, bias):
    acc = synapse(x)
    return fx.saturate_synapse(shift(acc, layer.weight_exp - value_shift(src_layer)) + bias)


class Executor:
    """Runs a Network on integer input frames; keeps neuron state across steps
    until `reset()`."""

    def __init__(self, net: Network, backend=NumpyBackend):
        self.net = net
        self.be = backend
        self.synapses = [None if layer.weight is None else _synapse(layer, backend.asint(layer.weight), backend)
                         for layer in net.layers]
        # as in NetX/Lava, a neuron's bias enters the voltage (<< 6), else the synapse's sum
        biases = [0 if layer.bias is None else backend.asint(layer.bias).reshape(1, -1, 1, 1) for layer in net.layers]
        self.synapse_biases = [0 if layer.neuron is not None else b for layer, b in zip(net.layers, biases)]
        self.voltage_biases = [b << fx.ACT_SHIFT if layer.neuron is not None else 0
                               for layer, b in zip(net.layers, biases)]
        self.state = None

    def reset(self, batch: int) -> None:
        self.state = {i: (self.be.zeros((batch, *neuron_shape(layer))),) * 2
                      for i, layer in enumerate(self.net.layers) if layer.neuron is not None}

    def step(self, frame, probes: dict | None = None):
        """One model time step. frame: (N, C, H, W) int64. Returns the output
        layer's value (N, C, H, W); `probes` (dict) receives every layer's value."""
        be, values = self.be, []
        for i, layer in enumerate(self.net.layers):
            src = [values[j] for j in layer.inputs]
            kind = layer.type
            if kind == "input":
                a = frame
            elif kind in ("conv", "dense"):
                a = _synaptic_current(layer, self.synapses[i], self.net.layers[layer.inputs[0]], src[0],
                                      self.synapse_biases[i])
            elif kind == "neuron":
                a = src[0]
            elif kind == "merge":
                a = src[0]
                for other in src[1:]:
                    a = a + other
            elif kind == "mean":
                a = (be.sum(src[0], (2, 3)) * int(layer.attrs["scale_mant"])) >> int(layer.attrs["scale_shift"])
                a = a.reshape(a.shape[0], -1, 1, 1)
            else:  # sdsa
                a = sdsa_current(layer.attrs, *src, be)
            if layer.neuron is not None:
                u, v = fx.lif_update(*self.state[i], a, layer.neuron, self.voltage_biases[i])
                spikes, v = fx.lif_fire(v, layer.neuron)
                self.state[i] = (u, v)
                a = be.from_bool(spikes)
                if kind == "sdsa":
                    a = sdsa_output(layer.attrs, a, src[0], src[2])
            values.append(a)
            if probes is not None:
                probes.setdefault(layer.name, []).append(a)
        return values[-1]

    def run(self, frames, probes: dict | None = None):
        """frames: (N, C, H, W, T) ints. Resets the state, runs T steps and returns
        the output layer's values stacked over time: (N, C, H, W, T)."""
        self.reset(frames.shape[0])
        return self.be.stack([self.step(frames[..., t], probes) for t in range(frames.shape[-1])])
