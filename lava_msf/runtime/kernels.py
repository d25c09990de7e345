"""Numpy kernels shared by the project's Lava process models (no torch, no Lava).

Lava ports carry arrays in Lava's (x, y, f) = (W, H, C) layout; the layer
semantics live in lava_msf.layers in (C, H, W). These helpers convert
between the two and keep the per-step arithmetic in one place.
"""

import numpy as np

from .. import fixedpoint as fx
from ..graph import flip_layout
from ..intconv import Conv2d
from ..layers import sdsa
from ..neurons import model_of
from ..reference import NumpyBackend


def to_chw(x_bwhc: np.ndarray) -> np.ndarray:
    """(B, W, H, C) -> (B, C, H, W): the batch axis stays first."""
    return flip_layout(x_bwhc, 1)


def to_whc(x_nchw: np.ndarray) -> np.ndarray:
    """(B, C, H, W) -> (B, W, H, C)."""
    return flip_layout(x_nchw, 1)


def input_frame(frame: np.ndarray, graded: bool) -> np.ndarray:
    """What an input process sends for a frame: itself when graded (pixels),
    else spikes where it is nonzero (event counts)."""
    return frame if graded else (frame != 0).astype(frame.dtype)


def lava_kernel(w_oihw: np.ndarray) -> np.ndarray:
    """A correlation kernel (out, in, kH, kW) in Lava's Conv layout (out, kW, kH, in),
    spatially flipped because Lava's Conv convolves."""
    return np.ascontiguousarray(w_oihw.transpose(0, 3, 2, 1)[:, ::-1, ::-1, :])


def correlation_kernel(w_lava: np.ndarray) -> np.ndarray:
    """Inverse of lava_kernel."""
    return np.ascontiguousarray(w_lava[:, ::-1, ::-1, :].transpose(0, 3, 2, 1))


def conv_fixed(conv: Conv2d, x_whc, weight_exp, bias):
    """Integer conv in Lava layout: sat24(shift(x * W, weight_exp) + bias), as the reference."""
    acc = conv(to_chw(x_whc))
    return to_whc(fx.saturate_synapse(fx.shift(acc, weight_exp) + bias.reshape(1, -1, 1, 1)))


def conv_float(conv: Conv2d, x_whc, weight_exp, bias):
    """The same conv in real arithmetic: x * W * 2**weight_exp + bias, no rounding."""
    acc = conv.real(to_chw(x_whc))
    return to_whc(acc * 2.0 ** weight_exp + bias.reshape(1, -1, 1, 1))


class DelayLine:
    """A FIFO of `delay` steps: push(x) returns what was pushed `delay` pushes ago
    (zeros at first). delay 0 passes x through."""

    def __init__(self, delay: int, shape, dtype):
        self.slots = [np.zeros(shape, dtype) for _ in range(delay)]

    def push(self, x):
        if not self.slots:
            return x
        self.slots.append(x)
        return self.slots.pop(0)


class ResetSchedule:
    """Neuron state is reset when `time_step % interval == offset`: the first
    step of each sample at this process's pipeline latency (Lava's time_step
    starts at 1; the rule is LIFReset's)."""

    def __init__(self, interval: int, offset: int):
        self.interval, self.offset = int(interval), int(offset) % int(interval)

    def due(self, time_step: int) -> bool:
        return time_step % self.interval == self.offset


def fixed_neuron_step(state, a, params, bias=0):
    """One step of the neuron model of `params` (lava_msf.neurons). state: the
    model's, or None (reset); a: int64; bias: the bias mantissa (the model
    shifts it in: a LIF's voltage << 6, as NetX's). Returns (output, new state)."""
    model = model_of(params)
    bias = np.asarray(bias, dtype=np.int64) << model.bias_shift(params)
    return model.step(state or model.reset(a.shape, NumpyBackend), a, params, bias, NumpyBackend)


def float_neuron_step(state, a, params, bias=0.0):
    """The model's real-valued step (lava-cpu-float; the builder checks it has one)."""
    return model_of(params).float_step(state or (np.zeros(a.shape),) * 2, a, params, bias)


def sdsa_step(attrs: dict, q, k, v, lif):
    """One SDSA step in Lava layout. `lif(current (B, C', H', W')) -> spikes` runs the
    attention neuron; returns the output spikes (B, W, H, C)."""
    q, k, v = (to_chw(z.astype(np.int64)) for z in (q, k, v))
    spikes = lif(sdsa.current(attrs, q, k, v, NumpyBackend))
    return to_whc(sdsa.output(attrs, spikes.astype(np.int64), q, v))
