"""lava_msf.graph.Network -> nir.NIRGraph. Each layer type adds its own nodes
(`LayerType.to_nir(x, i, layer)`, lava_msf/layers); this module holds what
they share: names, the shapes NIR sees, float weights, the neuron and the
delay that follow a synapse, and the hints that make the import exact.

Values in NIR are lava-msf's in float units: a spike is 1, a current of
mantissa m is m / 64, a frame of an input with value shift k is x / 2**k (a
Scale after the Input). A weight W with exponent e is W * 2**e / 64 whatever
its source (the synapse's shift by the source's value shift is that unit
change). The main node of layer i is named after it; extra nodes are
`<name>.neuron`, `.delay`, `.flatten`, `.scale` (SDSA's subgraph: its own, sdsa.py); every node carries metadata
`lava_msf_layer` = i (hints: import_nir uses them to rebuild the same layers,
never to change what the graph computes)."""

import math

import numpy as np

from .. import fixedpoint as fx
from ..layers import spec
from ..layers import delay as delays
from ..neurons import model_of
from . import DT, HINT, NirError
from . import neuron as lif
from .portable import portable

OUTPUT = "output"


class Export:
    def __init__(self, net, dt: float, floats: dict | None = None):
        import nir

        self.nir, self.net, self.dt = nir, net, float(dt)
        # {layer name: {"weight", "bias", "scale"}}: the float values the integers quantize, written in their
        # place, with neurons firing at v >= threshold (a float-neuron model's export, lava_msf.export.nir)
        self.floats = floats
        self.nodes, self.edges = {}, []
        self.ports = {}  # layer index -> (node name, NIR shape) of its output

    def at(self, i: int) -> str:
        return f"layer {i} ({self.net.layers[i].name})"

    def error(self, i: int, why: str) -> NirError:
        return NirError(f"{self.at(i)}: {why}")

    def add(self, i: int, name: str, node, sources=(), shape=None, **hints) -> str:
        """Node `name` of layer i, fed by the node names `sources`; its output shape
        `shape` becomes the layer's port. Returns the name."""
        if name in self.nodes or "/" in name or not name:
            raise self.error(i, f"NIR node name {name!r} is taken or not a valid HDF5 name")
        node.metadata = {f"{HINT}layer": i, **{f"{HINT}{k}": v for k, v in hints.items()}}
        self.nodes[name] = node
        self.edges += [(s, name) for s in sources]
        if shape is not None:
            self.ports[i] = (name, tuple(int(d) for d in shape))
        return name

    def source(self, i: int, k: int = 0):
        """(node name, NIR shape) of layer i's k-th input."""
        return self.ports[self.net.layers[i].inputs[k]]

    def flat_source(self, i: int) -> str:
        """Layer i's input as a vector (a Flatten node when it is not one)."""
        name, shape = self.source(i)
        if len(shape) == 1:
            return name
        return self.add(i, f"{self.net.layers[i].name}.flatten",
                        self.nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0, end_dim=-1), [name])

    def image_source(self, i: int):
        """(node name, (C, H, W)) of layer i's input, which must be an image."""
        name, shape = self.source(i)
        if len(shape) != 3:
            raise self.error(i, f"reads a vector {shape}; NIR has no reshape back to (C, H, W)")
        return name, shape

    def value(self, layer, key: str, exact):
        """Layer's value `key` in float units: the float source's when there is one, else `exact`
        (what its integers give)."""
        if self.floats is None:
            return exact
        value = self.floats.get(layer.name, {}).get(key)
        if value is None:
            return exact
        value = np.asarray(value, dtype=np.float64)
        if value.shape != np.shape(exact) or not np.isfinite(value).all():
            raise NirError(f"layer {layer.name!r}: its float {key} has shape {value.shape} where the layer's is "
                           f"{np.shape(exact)}, or is not finite")
        return value

    def weight(self, layer) -> np.ndarray:
        return self.value(layer, "weight", layer.weight.astype(np.float64) * 2.0 ** layer.weight_exp / fx.WEIGHT_SCALE)

    def bias(self, layer):
        """The layer's bias in float units, or None."""
        return None if layer.bias is None else self.value(layer, "bias", layer.bias / fx.WEIGHT_SCALE)

    def current_bias(self, layer, channels: int) -> np.ndarray:
        """A synapse's bias in float units (zero when it is its neuron's)."""
        if layer.bias is None or layer.neuron is not None:
            return np.zeros(channels)
        return self.bias(layer)

    def synapse(self, i: int, node, sources, shape, scale: float | None = None) -> None:
        """A synapse node named after layer i, then a Scale by `scale` (a pool's
        weight), its delay and its neuron."""
        layer = self.net.layers[i]
        name = self.add(i, layer.name, node, sources, shape, type=layer.type, weight_exp=int(layer.weight_exp))
        if scale is not None:
            name = self.add(i, f"{layer.name}.scale", self.nir.Scale(scale=np.full(shape, scale)), [name], shape)
        if layer.delay is not None:
            d = delays.per_output(layer)
            if d is None:
                raise self.error(i, "its delays differ between the synapses into one output; NIR's Delay delays "
                                 "a whole signal (per-output delays export)")
            steps = np.broadcast_to(d.reshape((-1,) + (1,) * (len(shape) - 1)), shape).astype(np.float64)
            name = self.add(i, f"{layer.name}.delay", self.nir.Delay(delay=steps * self.dt), [name], shape)
        if layer.neuron is not None:
            self.neuron(i, f"{layer.name}.neuron", [name], shape)

    def neuron(self, i: int, name: str, sources, shape) -> None:
        """Layer i's neuron (its bias in the voltage) as a NIR node `name`."""
        layer = self.net.layers[i]
        p = layer.neuron
        if not isinstance(p, fx.LifParams):
            raise self.error(i, f"its {type(model_of(p)).__name__} neuron has no NIR form (NIR's neurons are "
                             f"LIF, CubaLIF, IF, LI)")
        bias = self.bias(layer)
        node = lif.export(p, None if bias is None else bias * fx.WEIGHT_SCALE, shape, self.dt, self.at(i),
                          at_threshold=self.floats is not None)
        self.add(i, name, node, sources, shape)

    # --- operator layers as stock subgraphs (SDSA's V1 forms, docs/nir.md) ---
    def spike_image(self, i: int, k: int):
        """(node name, (C, H, W)) of layer i's k-th input, which must be an image."""
        name, shape = self.source(i, k)
        if len(shape) != 3:
            raise self.error(i, f"input {k} is a vector {shape}; its NIR subgraph convolves (C, H, W) images")
        return name, shape

    def conv(self, i: int, suffix: str, weight, sources, in_shape, padding=(0, 0), groups: int = 1) -> str:
        """A bias-free stride-1 Conv2d `<name>.<suffix>` of layer i; weights in float units."""
        w = np.asarray(weight, dtype=np.float64)
        node = self.nir.Conv2d(input_shape=tuple(in_shape[1:]), weight=w, stride=1, padding=tuple(padding),
                               dilation=1, groups=groups, bias=np.zeros(w.shape[0]))
        # nir 1.0.8 takes C_in / groups for C_in and the kernel's height for its width
        out = [w.shape[0]] + [n + 2 * p - k + 1 for n, p, k in zip(in_shape[1:], padding, w.shape[2:])]
        node.input_type, node.output_type = {"input": np.array(in_shape)}, {"output": np.array(out)}
        return self.add(i, f"{self.net.layers[i].name}.{suffix}", node, sources, weight_exp=0)

    def coincidence(self, i: int, name: str, sources, shape, **hints) -> str:
        """An AND of two 0/1 signals that arrive with weight 1: a memoryless LIF
        (tau = dt, r = 1) whose threshold 1.5 only their sum crosses."""
        return self.add(i, name, lif.export(lif.COINCIDENCE, None, shape, self.dt, self.at(i)), sources, shape, **hints)


def time_step(net, dt: float | None = None) -> float:
    """dt, else the one `net` was imported with (its meta's nir_dt), else DT."""
    value = net.meta.get("nir_dt", DT) if dt is None else dt
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise NirError(f"dt must be a positive number of seconds, got {str(value)[:40]}")
    return float(value)


CLIENTS = ("snntorch", "norse")


def export_nir(net, dt: float | None = None, client: str | None = None, floats: dict | None = None):
    """`net` as a NIR graph for time step `dt` (default: the one it was imported
    with, else DT; the graph stores it as a hint): exact for the types with a NIR
    form; NirError naming the first layer without. `client` ('snntorch', 'norse'):
    the same computation in the primitives that client's import reads (portable.py;
    not for re-import: an input's Scale goes into the weights). `floats` ({layer
    name: {"weight", "bias", "scale"}}, lava_msf.export.export_with_floats): the
    float-neuron model whose integer graph `net` is: its float values in the
    integers' place and its neurons firing at v >= threshold (docs/nir.md)."""
    if client is not None and client not in CLIENTS:
        raise NirError(f"client must be one of {', '.join(CLIENTS)}, got {str(client)[:40]!r}")
    import nir

    dt = time_step(net, dt)
    net.validate()
    x = Export(net, dt, floats)
    for i, layer in enumerate(net.layers):
        spec(layer).to_nir(x, i, layer)
    out, shape = x.ports[len(net.layers) - 1]
    name = OUTPUT if OUTPUT not in x.nodes else f"{OUTPUT}.nir"
    x.nodes[name] = nir.Output(output_type={"output": np.array(shape)})
    x.edges.append((out, name))
    meta = {f"{HINT}dt": float(dt), f"{HINT}timesteps": int(net.timesteps),
            **({} if floats is None else {f"{HINT}neuron": "float"})}
    try:
        graph = nir.NIRGraph(nodes=x.nodes, edges=x.edges, metadata=meta, type_check=True)
    except (ValueError, AssertionError) as e:  # NIR's own type check: a bug of a to_nir hook
        raise NirError(f"the exported NIR graph fails NIR's type check: {str(e)[:200]}") from None
    return graph if client is None else portable(graph, fold_r=client == "norse")
