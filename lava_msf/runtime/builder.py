"""Network (lava_msf.graph) -> a graph of Lava processes.

Each layer becomes the processes that compute it, in Lava's (W, H, C) layout:
  conv, dense  project Conv synapse (a dense layer is a conv over its whole
               input); a layer's own neuron runs in the same process
               (decomposed backends: a stock LIFReset after it)
  neuron       stock LIFReset
  merge        project Merge (delays the shorter branches)
  sdsa         project SDSA (with its attention neuron)
               (decomposed backends: Lava selects their SubProcessModels,
               lava_msf.chip.mapping's graphs of stock processes)
  mean         project TokenMean
  input        project StreamSource: the host pushes frames through a pipe,
               and StreamSinks pipe the readout (and probed layers) back
The fused backend instead runs the whole network as one FusedNetwork
process (lava_msf.reference's step, no per-hop delay) that reads and writes
the host's pipes itself.
Every synapse hop costs one Lava step, so layer i's value for model step t
appears at Lava step t + latency[i] + 1 (Lava counts from 1). Samples are
pipelined back to back, T steps each: a stateful process resets its neurons
on the first step of each sample at its own latency, so consecutive samples
never mix and no steps are spent draining.
"""

import math
from dataclasses import dataclass, field

import numpy as np

from .. import fixedpoint as fx
from ..chip.loihi2 import LOIHI2
from ..chip.mapping import latencies, input_delays
from ..errors import ConfigError
from ..graph import Layer, Network
from ..reference import value_shift
from .backends import Backend
from .kernels import lava_kernel
from .proc.conv.process import Conv
from .proc.fused.process import FusedNetwork
from .proc.merge.process import PORTS, Merge
from .proc.sdsa.process import SDSA
from .proc.stock import GRADED_BITS, lif_reset
from .proc.stream_io.process import StreamSink, StreamSource
from .proc.token_mean.process import TokenMean

BIAS_MANT_LIMIT = 1 << (LOIHI2["bias_mant_bits"] - 1)  # signed
VTH_LIMIT = (1 << LOIHI2["threshold_bits"]) - 1


class BuildError(ConfigError):
    """A network cannot be mapped to Lava processes (names the layer)."""


def lava_shape(shape) -> tuple:
    """(C, H, W) -> Lava's (W, H, C)."""
    c, h, w = shape
    return (w, h, c)


@dataclass
class LavaGraph:
    """The built processes and the timing needed to read them: the host pushes
    `period` frames per batch into `source` and reads as many values of the
    output layer (and of each probed layer) from its sink."""

    net: Network
    period: int  # Lava steps per batch: a multiple of T
    batch_samples: int
    latency: list
    source: StreamSource | FusedNetwork
    output: StreamSink | FusedNetwork
    probes: dict = field(default_factory=dict)  # layer name -> StreamSink
    processes: dict = field(default_factory=dict)  # process name -> process


def _check_neuron(layer: Layer, bias, at: str) -> None:
    p = layer.neuron
    if not 1 <= p.i_decay <= fx.DECAY_UNITY or not 0 <= p.v_decay <= fx.DECAY_UNITY:
        raise BuildError(f"{at}: Lava's LIF needs iDecay in 1..4096 and vDecay in 0..4096, "
                         f"got {p.i_decay}, {p.v_decay}")
    if not 0 <= p.vth_mant <= VTH_LIMIT:
        raise BuildError(f"{at}: threshold mantissa {p.vth_mant} outside Lava's 17 bits")
    if bias is not None and np.abs(bias).max(initial=0) >= BIAS_MANT_LIMIT:
        raise BuildError(f"{at}: bias up to {int(np.abs(bias).max())} does not fit Lava's 13-bit bias_mant")


def _lif(layer: Layer, shape, bias, latency: int, reset_interval: int, backend: Backend, name: str, at: str):
    _check_neuron(layer, bias, at)
    return lif_reset(shape, layer.neuron, bias, reset_interval, latency + 1, backend.select_tag == "fixed_pt", name)


def _synapse(layer: Layer, src: Layer, i: int, neuron: dict | None = None) -> Conv:
    """The layer's Conv; `neuron` (Conv's neuron arguments) makes it the whole layer."""
    weight = layer.weight.astype(np.int64)
    if layer.type == "dense":  # a conv whose kernel is the whole input
        weight = weight.reshape(weight.shape[0], *src.shape)
        stride, padding, groups = 1, 0, 1
    else:
        stride, padding, groups = layer.conv_geometry
    bias = layer.bias if layer.bias is not None and layer.neuron is None else None
    return Conv(weight=lava_kernel(weight), input_shape=lava_shape(src.shape),
                weight_exp=layer.weight_exp - value_shift(src), bias=bias, stride=stride, padding=padding,
                groups=groups, num_message_bits=0 if src.spiking else GRADED_BITS, name=f"{i}:{layer.name}",
                **(neuron or {}))


NEVER = 1 << 30  # a reset interval longer than any run: state is never reset
PIPE_FRAMES = 64  # frames a host pipe buffers


def graph_latencies(net: Network, backend: Backend) -> list:
    """Lava steps from the input to each layer: none in the fused process."""
    return [0] * len(net.layers) if backend.fused else latencies(net, backend.decomposed)


def _layers(net: Network, backend: Backend, source, lat: list, reset_interval: int, add) -> list:
    """Create the processes of every layer after the input, fed by `source`;
    returns each layer's output port."""
    ports = [source.s_out]
    for i, layer in enumerate(net.layers[1:], start=1):
        at = f"layer {i} ({layer.name})"
        shape = lava_shape(layer.shape)
        src = [ports[j] for j in layer.inputs]
        if layer.type in ("conv", "dense"):
            neuron = None
            if layer.neuron is not None and not backend.decomposed:  # one process per layer
                _check_neuron(layer, layer.bias, at)
                neuron = dict(neuron=layer.neuron, neuron_bias=layer.bias, reset_interval=reset_interval,
                              reset_offset=(lat[i] + 1) % reset_interval)
            syn = add(_synapse(layer, net.layers[layer.inputs[0]], i, neuron))
            src[0].connect(syn.s_in)
            out = syn.a_out
            if layer.neuron is not None and neuron is None:  # chip-mappable: Lava's stock LIF
                lif = add(_lif(layer, shape, layer.bias, lat[i], reset_interval, backend,
                               f"{i}:{layer.name}/neuron", at))
                out.connect(lif.a_in)
                out = lif.s_out
        elif layer.type == "neuron":
            lif = add(_lif(layer, shape, layer.bias, lat[i], reset_interval, backend, f"{i}:{layer.name}", at))
            src[0].connect(lif.a_in)
            out = lif.s_out
        elif layer.type == "merge":
            delays = input_delays(net, i, lat)
            classes = sorted(set(delays))
            if len(classes) > PORTS:
                raise BuildError(f"{at}: inputs arrive with {len(classes)} different latencies; "
                                 f"the Merge process aligns at most {PORTS}")
            merge = add(Merge(shape=shape, delays=tuple(classes), name=f"{i}:{layer.name}"))
            for d, port in zip(delays, src):
                port.connect(getattr(merge, f"a_in{classes.index(d)}"))
            out = merge.a_out
        elif layer.type == "sdsa":
            p = layer.neuron
            _check_neuron(layer, None, at)
            arrival = max(lat[j] for j in layer.inputs)
            sdsa = add(SDSA(shape=shape, variant=layer.attrs["variant"], heads=int(layer.attrs["heads"]),
                            scale=int(layer.attrs["scale"]), vth_mant=p.vth_mant, i_decay=p.i_decay,
                            v_decay=p.v_decay, reset_interval=reset_interval,
                            reset_offset=(arrival + 1) % reset_interval,
                            delays=tuple(input_delays(net, i, lat)), name=f"{i}:{layer.name}"))
            for port, name in zip(src, ("q_in", "k_in", "v_in")):
                port.connect(getattr(sdsa, name))
            out = sdsa.s_out
        elif layer.type == "mean":
            mean = add(TokenMean(shape=lava_shape(net.layers[layer.inputs[0]].shape),
                                 scale_mant=int(layer.attrs["scale_mant"]),
                                 scale_shift=int(layer.attrs["scale_shift"]), name=f"{i}:{layer.name}"))
            src[0].connect(mean.a_in)
            out = mean.a_out
        else:
            raise BuildError(f"{at}: a {layer.type!r} layer can only be the first")
        ports.append(out)
    return ports


class _Processes(dict):
    """Built processes by name."""

    def add(self, proc):
        self[proc.name] = proc
        return proc


def _between_pipes(net: Network, backend: Backend, lat: list, reset_interval: int, read: list, add) -> tuple:
    """The processes between the host's pipes: returns (the process whose
    input_pipe() takes frames, [the process whose output_pipe() gives layer i's
    values, for i in `read`]). Fused: one process does all."""
    layer = net.layers[0]
    name, graded = f"0:{layer.name}", value_shift(layer) > 0
    if backend.fused:
        fused = add(FusedNetwork(net=net, reset_interval=reset_interval, graded=graded,
                                 buffer_size=PIPE_FRAMES, name="fused"))
        return fused, [fused]
    source = add(StreamSource(shape=lava_shape(layer.shape), graded=graded, buffer_size=PIPE_FRAMES, name=name))
    ports = _layers(net, backend, source, lat, reset_interval, add)
    sinks = []
    for i in read:
        sinks.append(add(StreamSink(shape=lava_shape(net.layers[i].shape), buffer_size=PIPE_FRAMES,
                                    name=f"sink:{net.layers[i].name}")))
        ports[i].connect(sinks[-1].a_in)
    return source, sinks


def build(net: Network, backend: Backend, batch_samples: int, probes=()) -> LavaGraph:
    """Create (not run) the processes of `net` for batches of `batch_samples`
    samples streamed in through pipes (a Var set moves one value per message).
    `probes`: names of layers whose values are read out too."""
    names = [layer.name for layer in net.layers]
    unknown = sorted(set(probes) - set(names))
    if unknown:
        raise ConfigError(f"no layer named {', '.join(unknown)}; layers: {', '.join(names)}")
    if probes and backend.fused:
        raise ConfigError(f"backend {backend.name!r} runs the network as one process: it has no layer probes")
    lat = graph_latencies(net, backend)
    recorded = [len(net.layers) - 1] + [names.index(p) for p in probes]
    period = (batch_samples + math.ceil(max(lat[i] for i in recorded) / net.timesteps)) * net.timesteps
    processes = _Processes()
    source, sinks = _between_pipes(net, backend, lat, net.timesteps, recorded, processes.add)
    return LavaGraph(net=net, period=period, batch_samples=batch_samples, latency=lat, source=source,
                     output=sinks[0], probes=dict(zip(probes, sinks[1:])), processes=processes)


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


def build_stream(net: Network, backend: Backend, reset_interval: int | None) -> StreamGraph:
    """Create the processes of `net` fed from the host step by step. Neuron
    state resets every `reset_interval` model steps (None: never)."""
    interval = NEVER if reset_interval is None else int(reset_interval)
    if interval < 1:
        raise ConfigError(f"reset interval must be at least 1 step (or never), got {reset_interval}")
    lat = graph_latencies(net, backend)
    processes = _Processes()
    source, (sink,) = _between_pipes(net, backend, lat, interval, [len(net.layers) - 1], processes.add)
    return StreamGraph(net=net, latency=lat[-1], reset_interval=interval, source=source, sink=sink,
                       processes=processes)
