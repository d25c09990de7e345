"""Chip-mappable decompositions of the two layer types a Loihi-class chip has no
process for: SDSA and the membrane-shortcut merge (numpy only, no Lava).

A decomposition is data: populations of chip neurons and the synapse
projections between them. The Lava runtime instantiates it from Lava's stock
processes (lava_msf/runtime/proc/*/decomposed.py), `lava-msf inspect` counts
it, and the tests check one against the other. Neuron kinds:

  coincidence  LIF, du = dv = 4095, vth = 1: fires iff both of its two
               0/1 inputs are 1 (an AND); memoryless for inputs below 64
  attention    the layer's attention LIF (with its per-sample reset)
  graded       GradedVec, vth = 0: emits its summed input as a graded spike
  product      ProdNeuron, vth = 0, exp = 0: emits a_in1 * a_in2

Every projection has one weight for all its synapses, a constant fan-in per
target neuron and a constant fan-out per source neuron, and costs 1 + delay
Lava steps. Spikes enter through `ports` (a synapse from each parent input);
currents enter a graded neuron directly (`currents`), as a synapse output lands
in a neuron's dendrite on a chip.
"""

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

OUTPUT = "out"  # a projection into OUTPUT is the decomposition's output synapse


@dataclass(frozen=True)
class Population:
    name: str
    kind: str
    size: int


@dataclass(frozen=True)
class Projection:
    name: str
    src: str  # a population, or "in:<port>" for a parent input port
    dst: str  # a population, or OUTPUT
    dst_port: str  # the target neuron's input port (a_in, a_in1, a_in2)
    fan_in: int  # synapses per target neuron
    fan_out: int  # synapses per source neuron
    weight: int
    delay: int = 0  # extra steps (synaptic delay)
    graded: bool = False  # carries graded (24-bit) messages, not 0/1 spikes
    index: Callable = field(repr=False, compare=False, default=None)  # () -> (rows, cols)

    def synapses(self, dst_size: int) -> int:
        return self.fan_in * dst_size

    def matrix_entries(self):
        """(rows, cols) of the weight matrix (target x source, flat C-order indices)."""
        rows, cols = self.index()
        return np.asarray(rows).ravel(), np.asarray(cols).ravel()


@dataclass
class Decomposition:
    populations: list
    projections: list
    output: str  # the population whose spikes leave, or OUTPUT (a projection's currents leave)
    port_delays: dict  # parent port -> steps its input arrives before the latest one
    currents: dict = field(default_factory=dict)  # parent port -> graded population it feeds

    def population(self, name: str) -> Population:
        return next(p for p in self.populations if p.name == name)

    def size(self, node: str, out_size: int) -> int:
        return out_size if node == OUTPUT else self.population(node).size

    def depth(self, node: str) -> int:
        """Lava steps from the (latest) parent input to `node`, a population or
        OUTPUT. Raises if paths meet there out of step (inputs would not line up)."""
        depths = {}

        def arrive(node, d):
            if depths.setdefault(node, d) != d:
                raise AssertionError(f"paths into {node} differ in length: {depths[node]} and {d}")

        for port, pop in self.currents.items():
            arrive(pop, -self.port_delays[port])
        for proj in self.projections:  # listed in topological order
            src = -self.port_delays[proj.src[3:]] if proj.src.startswith("in:") else depths[proj.src]
            arrive(proj.dst, src + 1 + proj.delay)
        return depths[node]

    @property
    def latency(self) -> int:
        """Lava steps from the inputs to the output (the direct process takes none)."""
        return self.depth(self.output)

    @property
    def neurons(self) -> int:
        return sum(p.size for p in self.populations)

    def counts(self, out_size: int) -> dict:
        """What `inspect` counts of it: neurons, synapses, largest fan-in and fan-out,
        populations and latency; `out_size` is the parent's output size."""
        return {"neurons": self.neurons,
                "synapses": sum(p.synapses(self.size(p.dst, out_size)) for p in self.projections),
                "fan_in": max((p.fan_in for p in self.projections), default=1),
                "fan_out": max((p.fan_out for p in self.projections), default=1),
                "decomposition": {"populations": {p.name: [p.kind, p.size] for p in self.populations},
                                  "latency_steps": self.latency}}


def _identity(n: int):
    return lambda: (np.arange(n), np.arange(n))


def sdsa_decomposition(shape, variant: str, heads: int, scale: int, delays=(0, 0, 0)) -> Decomposition:
    """SDSA on (W, H, C) spike maps from coincidence detection, summing synapses,
    the attention LIF and (V1 forms) masking by coincidence. Port index of token
    l = x*H + y, channel c: l*C + c. `delays` align the q, k, v inputs."""
    w, h, c = shape
    n, d = w * h, c // heads
    dq, dk, dv = (int(x) for x in delays)
    ports = {"q_in": dq, "k_in": dk, "v_in": dv}
    token, chan = np.arange(n)[:, None], np.arange(c)[None, :]
    head_of = chan // d

    if variant == "v1_kv":  # Q AND SN(scale * SUM_tokens(K AND V))
        return Decomposition(
            populations=[Population("and", "coincidence", n * c), Population("attention", "attention", c),
                         Population("mask", "coincidence", n * c)],
            projections=[
                Projection("k", "in:k_in", "and", "a_in", 1, 1, 1, dk, index=_identity(n * c)),
                Projection("v", "in:v_in", "and", "a_in", 1, 1, 1, dv, index=_identity(n * c)),
                Projection("sum_tokens", "and", "attention", "a_in", n, 1, scale,
                           index=lambda: (np.broadcast_to(chan, (n, c)), token * c + chan)),
                Projection("broadcast", "attention", "mask", "a_in", 1, n, 1,
                           index=lambda: (token * c + chan, np.broadcast_to(chan, (n, c)))),
                Projection("q", "in:q_in", "mask", "a_in", 1, 1, 1, dq + 2, index=_identity(n * c))],
            output="mask", port_delays=ports)
    if variant == "v1_qk":  # V AND SN(scale * SUM_channels-of-head(Q AND K))
        att = token * heads + head_of  # attention neuron of (token, head)
        return Decomposition(
            populations=[Population("and", "coincidence", n * c), Population("attention", "attention", n * heads),
                         Population("mask", "coincidence", n * c)],
            projections=[
                Projection("q", "in:q_in", "and", "a_in", 1, 1, 1, dq, index=_identity(n * c)),
                Projection("k", "in:k_in", "and", "a_in", 1, 1, 1, dk, index=_identity(n * c)),
                Projection("sum_channels", "and", "attention", "a_in", d, 1, scale,
                           index=lambda: (att, token * c + chan)),
                Projection("broadcast", "attention", "mask", "a_in", 1, d, 1,
                           index=lambda: (token * c + chan, att)),
                Projection("v", "in:v_in", "mask", "a_in", 1, 1, 1, dv + 2, index=_identity(n * c))],
            output="mask", port_delays=ports)
    # v2: SN(scale * Q (K^T V)) per head. and[h,i,j,m] = K[m,hi] AND V[m,hj];
    # kv[h,i,j] = SUM_m and; prod[h,i,j,l] = Q[l,hi] * kv[h,i,j]; current[l,hj] = scale * SUM_i prod
    hh, i, j = (a.reshape(-1, 1) for a in np.meshgrid(np.arange(heads), np.arange(d), np.arange(d), indexing="ij"))
    pair = (hh * d + i) * d + j  # (h, i, j)
    m = np.arange(n)[None, :]
    quad = pair * n + m  # (h, i, j, token)
    return Decomposition(
        populations=[Population("and", "coincidence", heads * d * d * n), Population("kv", "graded", heads * d * d),
                     Population("prod", "product", heads * d * d * n), Population("attention", "attention", n * c)],
        projections=[
            Projection("k", "in:k_in", "and", "a_in", 1, d, 1, dk, index=lambda: (quad, m * c + hh * d + i)),
            Projection("v", "in:v_in", "and", "a_in", 1, d, 1, dv, index=lambda: (quad, m * c + hh * d + j)),
            Projection("sum_tokens", "and", "kv", "a_in", n, 1, 1,
                       index=lambda: (np.broadcast_to(pair, quad.shape), quad)),
            Projection("kv", "kv", "prod", "a_in2", 1, n, 1, graded=True,
                       index=lambda: (quad, np.broadcast_to(pair, quad.shape))),
            Projection("q", "in:q_in", "prod", "a_in1", 1, d, 1, dq + 2, index=lambda: (quad, m * c + hh * d + i)),
            Projection("sum_channels", "prod", "attention", "a_in", d, 1, scale, graded=True,
                       index=lambda: (m * c + hh * d + j, quad))],
        output="attention", port_delays=ports)


def merge_decomposition(shape, delays) -> Decomposition:
    """Membrane-shortcut merge: the undelayed currents land in one graded `sum`
    neuron per element; a current that must wait d > 0 steps goes through a
    graded relay and a synapse with delay d - 1; `sum` sends the total on
    through an identity synapse (its consumers are neurons)."""
    size = int(np.prod(shape))
    populations, projections, currents = [Population("sum", "graded", size)], [], {}
    for k, d in enumerate(delays):
        if d == 0:
            currents[f"a_in{k}"] = "sum"
            continue
        populations.append(Population(f"relay{k}", "graded", size))
        currents[f"a_in{k}"] = f"relay{k}"
        projections.append(Projection(f"delay{k}", f"relay{k}", "sum", "a_in", 1, 1, 1, int(d) - 1, graded=True,
                                      index=_identity(size)))
    projections.append(Projection("out", "sum", OUTPUT, "a_in", 1, 1, 1, graded=True, index=_identity(size)))
    return Decomposition(populations, projections, output=OUTPUT, currents=currents,
                         port_delays={f"a_in{k}": int(d) for k, d in enumerate(delays)})
