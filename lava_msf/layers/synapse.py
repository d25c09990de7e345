"""What conv and dense share: an 8-bit weight (mixed-sign or one-signed) with
one exponent, an optional bias and an optional neuron; one Lava step per hop;
on Lava the project's Conv process (a dense layer is a conv whose kernel is its
input)."""

import abc
import math

import numpy as np

from .. import fixedpoint as fx
from ..chip.loihi2 import signed_bits
from . import delay, hdf5
from .base import LayerType, need

# Loihi/Lava synapses with mixed-sign 8-bit weights keep even values only
# (Lava truncates the LSB): lava-msf's export makes even weights in [-256, 254].
WEIGHT_MIN, WEIGHT_MAX = -256, 254
# Plain NetX files may hold odd or one-signed weights up to 255, which NetX's Conv
# and (exponent-shifted) Dense compute exactly: every backend takes these.
READ_WEIGHT_MAX = 255
WEIGHT_EXP_RANGE = (-8, 7)
ROW_SUM_MAX = 1 << 22  # sum |W| per output: 32-bit inputs keep every partial sum exact in float64 (BLAS)


def quantize_weight(w: np.ndarray):
    """Float weight (current units per input unit) -> (even int weight, exponent)
    with w ~= weight * 2**exp / 64, weight in [WEIGHT_MIN, WEIGHT_MAX]."""
    peak = float(np.abs(w).max()) * fx.WEIGHT_SCALE
    exp = WEIGHT_EXP_RANGE[0] if peak == 0 else math.ceil(math.log2(peak / WEIGHT_MAX))
    exp = int(min(max(exp, WEIGHT_EXP_RANGE[0]), WEIGHT_EXP_RANGE[1]))
    mant = np.clip(np.rint(w * fx.WEIGHT_SCALE / 2.0 ** (exp + 1)), WEIGHT_MIN // 2, WEIGHT_MAX // 2)
    return 2 * mant.astype(np.int64), exp


def quantize_bias(b: np.ndarray) -> np.ndarray:
    return np.rint(b * fx.WEIGHT_SCALE).astype(np.int64)


class Synapse(LayerType):
    keys = frozenset({"neuron", "bias", "weight", "wgtExp"})  # conv and dense add "delay" (layers/delay.py)
    neuron = "optional"
    synaptic = operator = True

    def read(self, g, layer, at):
        layer.weight = hdf5.ints(g, "weight", at)
        layer.weight_exp = hdf5.integer(g, "wgtExp", at, *WEIGHT_EXP_RANGE, default=0)
        layer.delay = delay.read(g, at)

    def write(self, g, layer, net):
        g.create_dataset("weight", data=layer.weight.astype(np.int16), compression="gzip")
        g.create_dataset("wgtExp", data=int(layer.weight_exp))
        delay.write(g, layer)

    def check(self, net, layer, src, at):
        w = layer.weight
        need(w is not None and np.issubdtype(w.dtype, np.integer) and w.size > 0, at, "needs an integer weight")
        need(int(w.min()) >= WEIGHT_MIN and int(w.max()) <= READ_WEIGHT_MAX, at,
             f"weights must be integers in [{WEIGHT_MIN}, {READ_WEIGHT_MAX}] (8-bit Loihi weights)")
        need(WEIGHT_EXP_RANGE[0] <= layer.weight_exp <= WEIGHT_EXP_RANGE[1], at,
             f"weight exponent {layer.weight_exp} outside {WEIGHT_EXP_RANGE}")
        if layer.bias is not None and layer.neuron is None:  # a neuron's bias: its model checks it
            need(fx.SYNAPSE_MIN <= int(layer.bias.min()) and int(layer.bias.max()) <= fx.SYNAPSE_MAX, at,
                 "bias must fit the 24-bit synaptic accumulator")
        self.check_weight(layer, src[0], at)
        if layer.delay is not None:
            need("delay" in self.keys, at, f"a {self.name} layer takes no 'delay'")
            delay.check(layer, at)
        row = int(self.row_sums(layer).max())
        need(row <= ROW_SUM_MAX, at, f"sum of |weights| into one output {row} over {ROW_SUM_MAX} "
             f"(integer products would not stay exact)")

    def latency(self, layer, decomposed):
        return 2 if decomposed and layer.delay is not None else 1  # decomposed delays: a gating hop (layers/delay.py)

    def row_sums(self, layer):
        """Per output channel the sum of |weights| into one output."""
        return np.abs(layer.weight.astype(np.int64)).reshape(layer.weight.shape[0], -1).sum(axis=1)

    # --- delays (lava_msf.layers.delay): a delayed synapse keeps its pending sums
    def state_elements(self, layer, src):
        return 0 if layer.delay is None else delay.state_elements(layer)

    def initial_state(self, layer, batch, be):
        return None if layer.delay is None else delay.initial_state(layer, batch, be)

    @abc.abstractmethod
    def synapse(self, layer, weight, be):
        """The weighted sum as a function of the input (N, C, H, W)."""

    def reference(self, net, i, be):
        layer = net.layers[i]
        src = net.layers[layer.inputs[0]]
        synapse = self.synapse(layer, be.asint(layer.weight), be)
        # as in NetX/Lava, a neuron's bias enters the voltage (lava_msf.reference), else the sum
        bias = 0 if layer.bias is None or layer.neuron is not None else be.asint(layer.bias).reshape(1, -1, 1, 1)
        k = layer.weight_exp - src.value_shift
        if layer.delay is not None:
            return delay.reference(layer, lambda w: self.synapse(layer, w, be), k, bias, be)

        def current(x):
            return fx.saturate_synapse(fx.shift(synapse(x[0]), k) + bias)

        current.parts = synapse, k, bias  # the executor's fast path fuses them (lava_msf.reference)
        return current

    @abc.abstractmethod
    def lava_conv(self, layer, src):
        """(weight (out, in/groups, kH, kW), stride, padding, groups, dilation) of the layer as a Conv."""

    def lava_process(self):
        """The Lava process class of the synapse (Conv's arguments)."""
        from ..runtime.proc.conv.process import Conv

        return Conv

    def lava(self, b, i, layer, ports):
        from ..runtime.kernels import lava_kernel
        from ..runtime.proc.stock import GRADED_BITS

        Conv = self.lava_process()
        src = b.net.layers[layer.inputs[0]]
        if layer.delay is not None and b.backend.decomposed:
            return delay.lava_decomposed(b, i, layer, ports, layer.weight_exp - src.value_shift,
                                         0 if src.spiking else GRADED_BITS)
        if layer.delay is not None:  # the layer's reference step in a process of its own
            from ..runtime.proc.stateful.process import build_stateful

            return build_stateful(b, i, layer, ports)
        neuron = None
        if layer.neuron is not None and not b.backend.decomposed:  # synapse and neuron in one process
            neuron = dict(neuron=layer.neuron, neuron_bias=layer.bias, reset_interval=b.reset_interval,
                          reset_offset=(b.lat[i] + 1) % b.reset_interval)
        weight, stride, padding, groups, dilation = self.lava_conv(layer, src)
        syn = b.add(Conv(weight=lava_kernel(weight), input_shape=src.lava_shape,
                         weight_exp=layer.weight_exp - src.value_shift,
                         bias=layer.bias if layer.neuron is None else None, stride=stride, padding=padding,
                         groups=groups, dilation=dilation, num_message_bits=0 if src.spiking else GRADED_BITS,
                         batch=b.batch, name=f"{i}:{layer.name}", **(neuron or {})))
        ports[0].connect(syn.s_in)
        out = syn.a_out
        if layer.neuron is not None and neuron is None:  # chip-mappable: Lava's stock LIF after it
            lif = b.add(b.lif(i, f"{i}:{layer.name}/neuron"))
            out.connect(lif.a_in)
            out = lif.s_out
        return out

    @abc.abstractmethod
    def counts(self, layer, src):
        """(synapses, max fan-in, max fan-out), padding taps excluded."""

    def resources(self, r, i, layer, row):
        src = r.net.layers[layer.inputs[0]]
        row["synapses"], row["fan_in"], row["fan_out"] = self.counts(layer, src)
        row["weight_bits"], row["weight_exp"] = _weight_bits(layer.weight), int(layer.weight_exp)
        row["weights"] = int(layer.weight.size)
        if layer.bias is not None and layer.neuron is None:
            r.synapse_bias.append(layer.name)
        if layer.delay is not None:
            delay.resources(layer, row, src.size, r.net.timesteps)
        # per output channel the sum of |w| times the largest input, shifted as the synapse shifts, plus |bias|
        acc = fx.shift(self.row_sums(layer) * r.src_bounds(layer)[0], layer.weight_exp - src.value_shift)
        bias = 0 if layer.bias is None or layer.neuron is not None else np.abs(layer.bias.astype(np.int64))
        return int((acc + bias).max())


def _weight_bits(weight: np.ndarray) -> int:
    """Mantissa bits Lava stores: mixed-sign weights keep even values, w/2 in 8 bits."""
    m = int(np.abs(weight).max())
    return signed_bits(m) - 1 if not (weight % 2).any() else signed_bits(m)
