"""The deployable layer graph, defined once (numpy only).

A `Network` is a list of `Layer`s in topological order; each layer names the
layers it reads (`inputs`, indices of earlier layers). The exporter builds it,
the file format stores it, the reference executor runs it and the Lava builder
maps it to processes. All values are integers; per model time step:

- spikes: 0/1, the output of a layer with a neuron (and of `sdsa`);
- currents: integers in weight-mantissa units (1/64 of the deployable SN's
  input X/tau), the output of a layer without a neuron;
- input: integer frames (image pixels quantized to 8 bits, or event counts).

Layer types (semantics in lava_msf.reference):
  input   frames                                  -> values
  conv    2-D conv of one source (+bias)          -> current, or spikes with a neuron
  dense   fully connected on the flattened source -> current, or spikes with a neuron
  neuron  a deployable SN on one current          -> spikes
  merge   sum of currents (membrane shortcut)     -> current
  sdsa    spike-driven self-attention on Q, K, V  -> spikes
  mean    token mean of a current, (sum * m) >> k -> current (C, 1, 1)
"""

from dataclasses import dataclass, field

import numpy as np

from .errors import LavaMsfError
from .fixedpoint import LifParams

LAYER_TYPES = ("input", "conv", "dense", "neuron", "merge", "sdsa", "mean")
SDSA_VARIANTS = ("v2", "v1_kv", "v1_qk")
# Loihi/Lava synapses with mixed-sign 8-bit weights keep even values only
# (Lava truncates the LSB): effective integer weights are even, in [-256, 254].
WEIGHT_MIN, WEIGHT_MAX = -256, 254
WEIGHT_EXP_RANGE = (-8, 7)


class GraphError(LavaMsfError, ValueError):
    """A layer graph is inconsistent (shapes, edges, parameters)."""


@dataclass
class Layer:
    name: str
    type: str
    shape: tuple  # output (C, H, W)
    inputs: tuple = ()
    neuron: LifParams | None = None
    weight: np.ndarray | None = None  # even ints: conv (out, in/groups, kH, kW), dense (out, in)
    weight_exp: int = 0  # float weight = weight * 2**weight_exp / 64 (Lava's weight_exp)
    bias: np.ndarray | None = None  # int, current units, per output channel
    attrs: dict = field(default_factory=dict)  # stride, padding, groups; variant, heads, scale; ...

    @property
    def spiking(self) -> bool:
        """True when the layer emits spikes, False when it emits integer values."""
        return self.neuron is not None or self.type == "sdsa"

    @property
    def conv_geometry(self) -> tuple:
        """(stride, padding, groups) of a conv layer (square, defaults 1, 0, 1)."""
        return tuple(int(self.attrs.get(k, d)) for k, d in (("stride", 1), ("padding", 0), ("groups", 1)))


@dataclass
class Network:
    layers: list
    timesteps: int
    meta: dict = field(default_factory=dict)  # model config, readout scale, source

    @property
    def output(self) -> Layer:
        return self.layers[-1]

    def validate(self, where: str = "network") -> "Network":
        """Check types, edges and shapes; raise GraphError naming the layer."""
        if not self.layers or self.layers[0].type != "input":
            raise GraphError(f"{where}: the first layer must be of type 'input'")
        for i, layer in enumerate(self.layers):
            _check_layer(self, i, layer, f"{where}: layer {i} ({layer.name})")
        return self


def _check_layer(net: Network, i: int, layer: Layer, at: str) -> None:
    if layer.type not in LAYER_TYPES:
        raise GraphError(f"{at}: unknown layer type {layer.type!r}")
    if len(layer.shape) != 3 or any(int(d) < 1 for d in layer.shape):
        raise GraphError(f"{at}: shape must be 3 positive ints (C, H, W), got {layer.shape}")
    for j in layer.inputs:
        if not 0 <= j < i:
            raise GraphError(f"{at}: input {j} is not an earlier layer (edges must point backwards; cycle?)")
    src = [net.layers[j] for j in layer.inputs]
    arity = {"input": (0, 0), "conv": (1, 1), "dense": (1, 1), "neuron": (1, 1), "merge": (2, 64),
             "sdsa": (3, 3), "mean": (1, 1)}[layer.type]
    if not arity[0] <= len(src) <= arity[1]:
        raise GraphError(f"{at}: a {layer.type} layer takes {arity[0]}..{arity[1]} inputs, has {len(src)}")
    c, h, w = layer.shape
    if layer.type in ("conv", "dense"):
        _check_weights(layer, src[0], at)
    elif layer.type == "neuron":
        _need(src[0].shape == layer.shape and not src[0].spiking, at, "reads one current of its own shape")
        _need(layer.neuron is not None, at, "has no neuron parameters")
    elif layer.type == "merge":
        for s in src:
            _need(s.shape == layer.shape and not s.spiking, at, f"merges currents of shape {layer.shape}; "
                  f"input {s.name} is {'spikes' if s.spiking else 'current'} {s.shape}")
    elif layer.type == "sdsa":
        _need(all(s.shape == layer.shape and s.spiking for s in src), at, "reads Q, K, V spikes of its own shape")
        _need(layer.attrs.get("variant") in SDSA_VARIANTS, at, f"variant must be one of {SDSA_VARIANTS}")
        heads = int(layer.attrs.get("heads", 0))
        _need(heads >= 1 and c % heads == 0, at, f"heads={heads} must divide {c} channels")
        _need(layer.neuron is not None, at, "has no attention neuron parameters")
    elif layer.type == "mean":
        _need(not src[0].spiking and layer.shape == (src[0].shape[0], 1, 1), at,
              "reads a current (C, H, W) and gives (C, 1, 1)")


def _check_weights(layer: Layer, src: Layer, at: str) -> None:
    w = layer.weight
    _need(w is not None and np.issubdtype(w.dtype, np.integer), at, "needs an integer weight")
    _need(int(w.min()) >= WEIGHT_MIN and int(w.max()) <= WEIGHT_MAX and not (w % 2).any(), at,
          f"weights must be even integers in [{WEIGHT_MIN}, {WEIGHT_MAX}] (8-bit mixed-sign Loihi weights)")
    _need(WEIGHT_EXP_RANGE[0] <= layer.weight_exp <= WEIGHT_EXP_RANGE[1], at,
          f"weight exponent {layer.weight_exp} outside {WEIGHT_EXP_RANGE}")
    c_out = layer.shape[0]
    if layer.bias is not None:
        _need(layer.bias.shape == (c_out,) and np.issubdtype(layer.bias.dtype, np.integer), at,
              f"bias must be {c_out} integers")
    if layer.type == "dense":
        _need(w.shape == (c_out, int(np.prod(src.shape))) and layer.shape[1:] == (1, 1), at,
              f"dense weight must be ({c_out}, {int(np.prod(src.shape))}) with output (C, 1, 1)")
        return
    stride, padding, groups = layer.conv_geometry
    _need(w.ndim == 4 and w.shape[0] == c_out and src.shape[0] % groups == 0 and c_out % groups == 0
          and w.shape[1] == src.shape[0] // groups, at,
          f"conv weight {w.shape} does not fit {src.shape[0]} -> {c_out} channels in {groups} groups")
    for axis in (1, 2):
        size = (src.shape[axis] + 2 * padding - w.shape[axis + 1]) // stride + 1
        _need(size == layer.shape[axis], at, f"output size {layer.shape} does not follow from input "
              f"{src.shape}, kernel {w.shape[2:]}, stride {stride}, padding {padding}")


def _need(ok: bool, at: str, what: str) -> None:
    if not ok:
        raise GraphError(f"{at}: {what}")
