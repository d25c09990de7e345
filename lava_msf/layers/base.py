"""The contract of a layer type (docs/adding-a-layer-type.md). A type is one
module of lava_msf.layers defining a LayerType subclass; every consumer (file
reader and writer, graph validation, reference executor, Lava builder,
`inspect`, `report`) asks it, none switches on type names."""

import abc

from .. import fixedpoint as fx
from ..errors import GraphError

# a batched Lava port (B, W, H, C) as (B, C, H, W): flattened, each sample in the weights' C*H*W order
CHW = [0, 3, 2, 1]

COMMON_KEYS = frozenset({"type", "shape", "inputs"})  # every layer group's (the reader's)


def need(ok: bool, at: str, what: str) -> None:
    if not ok:
        raise GraphError(f"{at}: {what}")


class LayerType(abc.ABC):
    name = ""
    arity = (1, 1)  # (fewest, most) inputs
    keys = frozenset()  # HDF5 datasets of its group besides type, shape, inputs (the name is an attribute)
    neuron = "never"  # "never", "optional" or "required": a `neuron/` group (its spikes are the output)
    spiking = False  # emits spikes even without a neuron of its own
    synaptic = False  # a weighted sum of one source, one Lava step per hop
    operator = False  # its operations count in `report`'s energy
    currents = 1  # currents its neuron takes (a resonate-and-fire neuron: 2, real and imaginary, as a tuple)
    netx_flatten = False  # NetX wants a 'flatten' group before it when it reads the previous layer

    # --- file -------------------------------------------------------------
    def read(self, g, layer, at: str) -> None:
        """Fill `layer` (weight, attrs) from its HDF5 group; NetFileError naming `at` and the key."""

    def write(self, g, layer, net) -> None:
        """Write what read() reads (plus NetX's redundant keys)."""

    def netx_read(self, layer, at: str) -> None:
        """A layer of a plain NetX file, read: refuse what stock NetX computes
        differently from lava-msf (NetFileError naming `at` and the key)."""

    # --- graph ------------------------------------------------------------
    def check(self, net, layer, src: list, at: str) -> None:
        """Shape rule and parameter ranges (every backend computes them exactly); GraphError."""

    def value_shift(self, layer) -> int:
        """Right shift a synapse applies to this layer's output: 0 for spikes, 6 for currents."""
        return 0 if layer.spiking else fx.ACT_SHIFT

    def graded_frames(self, layer) -> bool:
        """The source layer: Lava's input process sends frames as values, else as spikes."""
        return self.value_shift(layer) > 0

    def neuron_shape(self, layer) -> tuple:
        return tuple(layer.shape)

    def latency(self, layer, decomposed: bool) -> int:
        """Lava steps the layer adds after its latest input (decomposed: stock processes)."""
        return 0

    def state_elements(self, layer, src: list) -> int:
        """Integers a step holds for this layer beyond its output (the memory budget)."""
        return 0

    # --- reference (integer semantics) ------------------------------------
    @abc.abstractmethod
    def reference(self, net, i: int, be):
        """A function of the inputs' values (N, C, H, W) giving the layer's value
        before its neuron (its current), in the array backend `be`."""

    def initial_state(self, layer, batch: int, be):
        """A stateful type's state at the start of a sample (None: stateless). When
        not None, the reference function is called as op(src, state) -> (a, state)."""
        return None

    def observe(self, layer, state, out):
        """The state after the layer's output `out` of a step is known (recurrence)."""
        return state

    def emit(self, layer, spikes, src: list):
        """The layer's output from its neuron's spikes (0/1 values)."""
        return spikes

    # --- Lava -------------------------------------------------------------
    def lava(self, b, i: int, layer, ports: list):
        """Create the layer's process(es) through builder `b` (lava_msf.runtime.builder.Build),
        fed by `ports`; return its output port."""
        from ..runtime.builder import BuildError

        raise BuildError(f"layer {i} ({layer.name}): a {self.name} layer has no Lava process")

    # --- NIR (lava_msf.nir) -------------------------------------------------
    def to_nir(self, x, i: int, layer) -> None:
        """Add the layer's NIR nodes through exporter `x` (lava_msf.nir.exporter.Export)."""
        raise x.error(i, f"lava-msf exports no {self.name} layer to NIR")

    # --- inspect, report --------------------------------------------------
    def resources(self, r, i: int, layer, row: dict) -> int:
        """Fill `row` (neurons, synapses, fan-in/out, weight bits...) through inspect's
        context `r` (lava_msf.chip.report); return the bound on |output|."""
        return 0

    def flops(self, net, i: int) -> int:
        """Multiply-accumulates per time step, as the SDT energy method counts them."""
        return 0

    def cost_terms(self, net, i: int) -> list:
        """`report`'s operations: (multiply-accumulates per step, the layers whose
        messages drive them) pairs; by default all of flops(), driven by its inputs."""
        return [(self.flops(net, i), tuple(net.layers[i].inputs))]
