"""The deployable layer graph, defined once (numpy only).

A `Network` is a list of `Layer`s in topological order; each layer names the
layers it reads (`inputs`, indices of earlier layers). The exporter builds it,
the file format stores it, the reference executor runs it and the Lava builder
maps it to processes. All values are integers; per model time step:

- spikes: 0/1, the output of a layer with a neuron (and of `sdsa`);
- currents: integers in weight-mantissa units (1/64 of the deployable SN's
  input X/tau), the output of a layer without a neuron;
- input: integer frames (image pixels quantized to 8 bits, or event counts).

Layer types (input, conv, dense, neuron, merge, sdsa, mean) are defined in
lava_msf.layers, one module each; this module holds what belongs to the graph:
edges, latencies, layouts, names and the limits of the whole network.
"""

import math
from numbers import Integral
from dataclasses import dataclass, field

import numpy as np

from .errors import GraphError
from .layers import TYPES, spec
from .memory import usable_memory
from .layers.base import need
from .neurons import MODELS, model_of

MAX_TIMESTEPS = 1 << 16
MEMORY_FRACTION = 4  # a network may take a quarter of the machine's memory
WEIGHT_BYTES = 20  # per weight: int64, plus float32 and float64 copies for BLAS (lava_msf.intconv)


def memory_budget() -> int:
    """Bytes one network may take (weights, state and values of one sample)."""
    return usable_memory() // MEMORY_FRACTION


def memory_need(net: "Network") -> int:
    """Bytes the reference executor allocates for one sample: each layer's value,
    neuron state (u, v) and scratch (int64), and the weights."""
    elements, weights = 0, 0
    for layer in net.layers:
        src = [net.layers[j] for j in layer.inputs]
        elements += layer.size + spec(layer).state_elements(layer, src)
        if layer.neuron is not None:
            elements += model_of(layer.neuron).state_arrays * math.prod(layer.neuron_shape)
        weights += 0 if layer.weight is None else int(layer.weight.size)
    return 8 * elements + WEIGHT_BYTES * weights


def flip_layout(x, axis: int = 0):
    """(C, H, W) <-> Lava's (W, H, C): reverses the three axes of array `x`
    that start at `axis` (the one conversion; it is its own inverse)."""
    axis = axis % np.ndim(x)
    order = list(range(np.ndim(x)))
    order[axis:axis + 3] = order[axis:axis + 3][::-1]
    return np.transpose(x, order)


@dataclass
class Layer:
    name: str
    type: str
    shape: tuple  # output (C, H, W)
    inputs: tuple = ()
    neuron: object = None  # a lava_msf.neurons model's parameters (fixedpoint.LifParams, neurons.sdnn.SdnnParams)
    weight: np.ndarray | None = None  # even ints: conv (out, in/groups, kH, kW), dense (out, in)
    weight_exp: int = 0  # float weight = weight * 2**weight_exp / 64 (Lava's weight_exp)
    bias: np.ndarray | None = None  # int, current units, per output channel
    attrs: dict = field(default_factory=dict)  # stride, padding, groups; variant, heads, scale; ...
    delay: np.ndarray | None = None  # synaptic delays of conv/dense, as stored (lava_msf.layers.delay)

    @property
    def spiking(self) -> bool:
        """True when the layer emits spikes (0/1), False when it emits integer values
        (currents, frames, a graded neuron's output)."""
        if self.neuron is not None:
            return not model_of(self.neuron).graded(self.neuron)
        return spec(self).spiking

    @property
    def value_shift(self) -> int:
        """Right shift a synapse applies to what the layer emits: its neuron's (0 for
        spikes and sigma-delta values), else 6 for currents (1/64 units), the input
        layer's own shift for frames."""
        if self.neuron is not None:
            return model_of(self.neuron).value_shift(self.neuron)
        return spec(self).value_shift(self)

    @property
    def neuron_shape(self) -> tuple:
        """Shape of the layer's neuron state."""
        return spec(self).neuron_shape(self)

    @property
    def lava_shape(self) -> tuple:
        """The output shape in Lava's (W, H, C) layout."""
        return tuple(int(d) for d in reversed(self.shape))

    @property
    def size(self) -> int:
        return math.prod(int(d) for d in self.shape)


@dataclass
class Network:
    layers: list
    timesteps: int
    meta: dict = field(default_factory=dict)  # model config, readout scale, source

    @property
    def output(self) -> Layer:
        return self.layers[-1]

    @property
    def graded_input(self) -> bool:
        """Whether input frames enter as values (pixels, or the current of an
        input neuron); else as spikes, nonzero -> 1."""
        return spec(self.layers[0]).graded_frames(self.layers[0])

    def latencies(self, decomposed: bool = False) -> list:
        """Lava steps from the input to each layer's value: one per synapse hop,
        plus a decomposed layer's own depth."""
        lat = []
        for layer in self.layers:
            lat.append(max((lat[j] for j in layer.inputs), default=0) + spec(layer).latency(layer, decomposed))
        return lat

    def input_delays(self, i: int, lat: list) -> list:
        """Per input of layer i, the steps it must wait for the latest one."""
        arrival = max(lat[j] for j in self.layers[i].inputs)
        return [arrival - lat[j] for j in self.layers[i].inputs]

    def validate(self, where: str = "network") -> "Network":
        """Check types, edges, names, shapes and parameter ranges; raise GraphError naming the layer."""
        if not isinstance(self.timesteps, Integral) or not 0 <= self.timesteps <= MAX_TIMESTEPS:
            raise GraphError(f"{where}: timesteps {self.timesteps!r} outside 0..{MAX_TIMESTEPS}")
        if not self.layers or self.layers[0].type not in TYPES or spec(self.layers[0]).arity[1] != 0:
            raise GraphError(f"{where}: the first layer must be of type 'input'")
        seen = {}
        for i, layer in enumerate(self.layers):
            at = f"{where}: layer {i} ({layer.name})"
            if layer.name in seen:
                raise GraphError(f"{at}: name {layer.name!r} is also layer {seen[layer.name]}'s (names must be unique)")
            seen[layer.name] = i
            _check_layer(self, i, layer, at)
        need_bytes, budget = memory_need(self), memory_budget()
        if need_bytes > budget:
            raise GraphError(f"{where}: the network needs {need_bytes / 2**30:.1f} GiB per sample, more than "
                             f"{budget / 2**30:.1f} GiB (1/{MEMORY_FRACTION} of this machine's memory)")
        return self


def _check_layer(net: Network, i: int, layer: Layer, at: str) -> None:
    if layer.type not in TYPES:
        raise GraphError(f"{at}: unknown layer type {layer.type!r}")
    kind = spec(layer)
    need(len(layer.shape) == 3 and all(int(d) >= 1 for d in layer.shape), at,
         f"shape must be 3 positive ints (C, H, W), got {layer.shape}")
    need((kind.arity[1] == 0) == (i == 0), at, "only the first layer reads no other layer")
    for j in layer.inputs:
        need(0 <= j < i, at, f"input {j} is not an earlier layer (edges must point backwards; cycle?)")
    src = [net.layers[j] for j in layer.inputs]
    lo, hi = kind.arity
    need(lo <= len(src) <= hi, at, f"a {layer.type} layer takes {lo}..{hi} inputs, has {len(src)}")
    if kind.neuron == "never":
        need(layer.neuron is None, at, f"a {layer.type} layer has no neuron")
    elif kind.neuron == "required":
        need(layer.neuron is not None, at, "has no neuron parameters")
    if layer.neuron is not None:
        need(type(layer.neuron) in MODELS, at, f"unknown neuron model {type(layer.neuron).__name__}")
        need(getattr(model_of(layer.neuron), "currents", 1) == kind.currents, at,
             f"a {layer.type} layer cannot feed its {type(layer.neuron).__name__} neuron (resonate-and-fire neurons "
             f"take the two currents of a complex dense layer: weight/real, weight/imag)")
    if layer.bias is not None:
        need("bias" in kind.keys, at, f"a {layer.type} layer has no bias")
        need(layer.bias.shape == (layer.shape[0],) and np.issubdtype(layer.bias.dtype, np.integer), at,
             f"bias must be {layer.shape[0]} integers")
    kind.check(net, layer, src, at)
    if layer.neuron is not None:
        model_of(layer.neuron).check(layer.neuron, layer.bias, at)
