"""Network (lava_msf.graph) -> a graph of Lava processes.

Each layer becomes the processes its type builds (lava_msf.layers.<type>,
`lava`), in Lava's (W, H, C) layout:
  conv, dense  project Conv synapse (a dense layer is a conv over its whole
               input); a layer's own neuron runs in the same process
               (decomposed backends: a stock LIFReset after it)
  neuron       stock LIFReset
  merge        project Merge (delays the shorter branches)
  sdsa         project SDSA (with its attention neuron)
               (decomposed backends: Lava selects their SubProcessModels,
               lava_msf.chip.mapping's graphs of stock processes)
  mean         project TokenMean
  pool         project Conv (the shared kernel on every channel)
  convT,       project ConvT (a Conv on the zero-upsampled input)
  unpool
  concat       stock Sparse/DelaySparse per input into a relay LIFReset
  input        project StreamSource (+ its neuron's stock process, if it has one):
               the host pushes frames through a pipe,
               and StreamSinks pipe the readout (and probed layers) back
The fused backend instead runs the whole network as one FusedNetwork
process (lava_msf.reference's step, no per-hop delay) that reads and writes
the host's pipes itself.
Every synapse hop costs one Lava step, so layer i's value for model step t
appears at Lava step t + latency[i] + 1 (Lava counts from 1). Samples are
pipelined back to back, T steps each: a stateful process resets its neurons
on the first step of each sample at its own latency, so consecutive samples
never mix and no steps are spent draining.
Every port and state carries a batch axis first, (B, W, H, C): B samples
move through the graph in lock step, one message per port and step (stock
neurons are elementwise; stock synapses get B copies of their weight matrix
on the diagonal). The decomposed backends build B = 1 (the chip's graph).
"""

import functools
import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError
from ..graph import Network
from ..layers import spec
from ..neurons import model_of
from .backends import Backend
from .proc.fused.process import FusedNetwork
from .proc.stream_io.process import StreamSink, StreamSource


class BuildError(ConfigError):
    """A network cannot be mapped to Lava processes (names the layer)."""


@dataclass
class LavaGraph:
    """The built processes and the timing needed to read them: the host pushes
    `period` frames per batch into `source` and reads as many values of the
    output layer (and of each probed layer) from its sink."""

    net: Network
    period: int  # Lava steps per run: a multiple of T
    batch_samples: int  # samples per run: `waves` groups of `batch`, back to back
    batch: int  # samples per Lava step (the batch axis)
    latency: list
    source: StreamSource | FusedNetwork
    output: StreamSink | FusedNetwork
    probes: dict = field(default_factory=dict)  # layer name -> StreamSink (fused: FusedProbe)
    processes: dict = field(default_factory=dict)  # process name -> process


@dataclass(frozen=True)
class FusedProbe:
    """A probed layer's part of the fused process's probe pipe (values
    [start, stop) of each step's message)."""

    process: FusedNetwork
    start: int
    stop: int

    def output_pipe(self):
        return self.process.probe_pipe()

    def select(self, received):
        return received[..., self.start:self.stop]


NEVER = 1 << 30  # a reset interval longer than any run: state is never reset
PIPE_FRAMES = 64  # frames a host pipe buffers


def graph_latencies(net: Network, backend: Backend) -> list:
    """Lava steps from the input to each layer: none in the fused process."""
    return [0] * len(net.layers) if backend.fused else net.latencies(backend.decomposed)


@dataclass
class Build:
    """What a layer type's `lava` builds with (lava_msf.layers)."""

    net: Network
    backend: Backend
    lat: list  # per layer, its Lava latency
    reset_interval: int
    add: object  # process -> process, recorded by name
    batch: int = 1  # samples per Lava step: the leading axis of every port

    def shape(self, i: int) -> tuple:
        """Layer i's port shape: (batch, W, H, C)."""
        return (self.batch, *self.net.layers[i].lava_shape)

    def batched(self, weights):
        """A stock synapse's (out, in) weights for the batch: `batch` copies on
        the diagonal of a sparse matrix (ports flatten batch-major)."""
        from scipy.sparse import csr_matrix, identity, kron

        return csr_matrix(kron(identity(self.batch, dtype=np.int32, format="csr"), csr_matrix(weights),
                               format="csr"), dtype=np.int32)

    @functools.cached_property
    def current_bounds(self) -> list:
        """Per layer, `inspect`'s bound on |output| (from the weights: it holds for every input)."""
        from ..chip.loihi2 import LOIHI2
        from ..chip.report import inspect_network

        return [row["current_bound"] for row in inspect_network(self.net, LOIHI2)["layers"]]

    def lif(self, i: int, name: str):
        """Layer i's neuron (any model) as its model's stock process (its bias into
        the neuron), reset on each sample's first step at the layer's latency."""
        layer = self.net.layers[i]
        return model_of(layer.neuron).lava(self.shape(i), layer.neuron, layer.bias, self.reset_interval,
                                           self.lat[i] + 1, self.backend.select_tag == "fixed_pt", name)


def _check_models(net: Network, backend: Backend) -> None:
    """Every neuron model must have a model for the backend's arithmetic."""
    for i, layer in enumerate(net.layers):
        if layer.neuron is not None and backend.select_tag == "floating_pt" and \
                model_of(layer.neuron).float_step is None:
            raise BuildError(f"layer {i} ({layer.name}): its {type(layer.neuron).__name__} neuron has no "
                             f"floating-point model on backend {backend.name!r} (use a fixed-point backend)")


def _layers(b: Build, source) -> list:
    """Create the processes of every layer after the input, fed by `source`;
    returns each layer's output port."""
    ports = []
    for i, layer in enumerate(b.net.layers):
        ports.append(spec(layer).lava(b, i, layer, [ports[j] for j in layer.inputs] or [source.s_out]))
    return ports


class _Processes(dict):
    """Built processes by name."""

    def add(self, proc):
        self[proc.name] = proc
        return proc


def _between_pipes(net: Network, backend: Backend, lat: list, reset_interval: int, read: list, add,
                   batch: int | None, window: int = 1) -> tuple:
    """The processes between the host's pipes: returns (the process whose
    input_pipe() takes frames, [the process whose output_pipe() gives layer i's
    values, for i in `read`]). Fused: one process does all. `batch` None: one
    sample, and the pipes carry (W, H, C) (streaming); else (batch, W, H, C)."""
    layer = net.layers[0]
    name, graded = f"0:{layer.name}", net.graded_input
    if backend.fused:
        fused = add(FusedNetwork(net=net, reset_interval=reset_interval, graded=graded,
                                 buffer_size=PIPE_FRAMES, probes=read[1:], batch=batch, window=window, name="fused"))
        stops = np.cumsum([0] + [net.layers[i].size for i in read[1:]])
        return fused, [fused] + [FusedProbe(fused, int(a), int(b)) for a, b in zip(stops[:-1], stops[1:])]
    b = Build(net, backend, lat, reset_interval, add, batch or 1)
    source = add(StreamSource(shape=b.shape(0), graded=graded, buffer_size=PIPE_FRAMES, batched=batch is not None,
                              name=name))
    ports = _layers(b, source)
    sinks = []
    for i in read:
        sinks.append(add(StreamSink(shape=b.shape(i), buffer_size=PIPE_FRAMES, batched=batch is not None,
                                    name=f"sink:{net.layers[i].name}")))
        ports[i].connect(sinks[-1].a_in)
    return source, sinks


def build(net: Network, backend: Backend, batch_samples: int, probes=(), batch: int = 1) -> LavaGraph:
    """Create (not run) the processes of `net` for runs of `batch_samples`
    samples streamed in through pipes (a Var set moves one value per message),
    `batch` of them per Lava step. `probes`: names of layers whose values are
    read out too."""
    net.validate()
    if batch < 1 or batch_samples < 1:
        raise ConfigError(f"batch and batch_samples must be at least 1, got {batch} and {batch_samples}")
    if batch > 1 and backend.decomposed:
        raise ConfigError(f"backend {backend.name!r} runs one sample per Lava step (the chip's graph of stock "
                          f"processes has no batch axis): use batch 1")
    if net.timesteps < 1:  # a file may leave T open (NIR imports): a batch needs it
        raise ConfigError("the network has no time steps per sample (T = 0): give it timesteps")
    _check_models(net, backend)
    names = [layer.name for layer in net.layers]
    unknown = sorted(set(probes) - set(names))
    if unknown:
        raise ConfigError(f"no layer named {', '.join(unknown)}; layers: {', '.join(names)}")
    lat = graph_latencies(net, backend)
    probes = list(dict.fromkeys(probes))
    # one sink per layer: a second sink of the same layer would never be read,
    # fill its pipe and stall the graph
    recorded = list(dict.fromkeys([len(net.layers) - 1] + [names.index(p) for p in probes]))
    waves = math.ceil(batch_samples / batch)
    period = (waves + math.ceil(max(lat[i] for i in recorded) / net.timesteps)) * net.timesteps
    processes = _Processes()
    source, sinks = _between_pipes(net, backend, lat, net.timesteps, recorded, processes.add, batch)
    sink_of = dict(zip(recorded, sinks))
    return LavaGraph(net=net, period=period, batch_samples=batch_samples, batch=batch, latency=lat, source=source,
                     output=sinks[0], probes={p: sink_of[names.index(p)] for p in probes}, processes=processes)


@dataclass
class StreamGraph:
    """Processes for continuous operation: the host pushes one frame per step
    into `source` and reads the output layer's value per step from `sink`,
    `latency` steps later."""

    net: Network
    latency: int
    reset_interval: int
    source: StreamSource | FusedNetwork
    sink: StreamSink | FusedNetwork
    processes: dict = field(default_factory=dict)


def build_stream(net: Network, backend: Backend, reset_interval: int | None, window: int = 1) -> StreamGraph:
    """Create the processes of `net` fed from the host step by step (`window`
    model steps per Lava step: fused backends only). Neuron state resets
    every `reset_interval` model steps (None: never)."""
    net.validate()
    _check_models(net, backend)
    interval = NEVER if reset_interval is None else int(reset_interval)
    if interval < 1:
        raise ConfigError(f"reset interval must be at least 1 step (or never), got {reset_interval}")
    if window != 1 and not backend.fused:
        raise ConfigError(f"backend {backend.name!r} runs one model step per Lava step: a window of {window} "
                          "steps needs a fused backend")
    lat = graph_latencies(net, backend)
    processes = _Processes()
    source, (sink,) = _between_pipes(net, backend, lat, interval, [len(net.layers) - 1], processes.add, None,
                                     window)
    return StreamGraph(net=net, latency=lat[-1], reset_interval=interval, source=source, sink=sink,
                       processes=processes)
