"""Resource report and constraint check of a layer graph on a Loihi-class
target (`lava-msf inspect`): counts from the graph alone, nothing is run.

Per layer: chip neurons, synapses, the largest fan-in and fan-out, weight
bits and exponent, message bits, a bound on the synaptic current (from the
weights, so it holds for every input), and estimated cores; each layer type
counts its own (lava_msf.layers, `resources`), SDSA and merge in their
chip-mappable decomposition (lava_msf.chip.mapping). Layers are placed on
cores of their own (as Lava maps processes); a layer's cores are the most of
what its neurons and its memory need.
"""

import math

from ..graph import Network
from ..layers import spec
from ..neurons import model_of
from .loihi2 import Target, signed_bits


class Inspection:
    """What a layer type's `resources` reads and adds to."""

    def __init__(self, net: Network, target: Target):
        self.net, self.target = net, target
        self.lat = net.latencies(decomposed=True)
        self.bounds = []  # per layer so far: the bound on |output|
        self.notes = []
        self.synapse_bias = []  # layers adding a bias in a synapse without a neuron

    def src_bounds(self, layer) -> list:
        """Per input: 1 for spikes, else the input layer's bound."""
        return [1 if self.net.layers[j].spiking else self.bounds[j] for j in layer.inputs]


def inspect_network(net: Network, target: Target) -> dict:
    net.validate()
    r, layers, violations = Inspection(net, target), [], []
    for i, layer in enumerate(net.layers):
        row = {"index": i, "name": layer.name, "type": layer.type, "shape": list(layer.shape),
               "neurons": layer.size if layer.neuron is not None else 0, "synapses": 0, "weights": 0,
               "fan_in": 0, "fan_out": 0, "weight_bits": None, "weight_exp": None, "message_bits": None,
               "current_bound": 0, "current_bits": None}
        at = f"layer {i} ({layer.name})"
        if layer.inputs:  # what the layer's input messages carry
            first = layer.inputs[0]
            row["message_bits"] = layers[0]["message_bits"] if first == 0 else \
                0 if net.layers[first].spiking else target["message_bits"]
        bound = spec(layer).resources(r, i, layer, row)
        r.bounds.append(bound if layer.neuron is None else model_of(layer.neuron).output_bound(layer.neuron))
        row["current_bound"] = int(bound)
        row["current_bits"] = signed_bits(bound)
        if row["current_bits"] > target["synapse_accumulator_bits"]:
            violations.append(f"{at}: overflow risk: currents up to {bound} need {row['current_bits']} bits, "
                              f"the synaptic accumulator has {target['synapse_accumulator_bits']} (saturates)")
        if row["fan_in"] > target["input_axons_per_core"]:
            violations.append(f"{at}: fan-in {row['fan_in']} over {target['input_axons_per_core']} input axons "
                              f"per core (split the input channels over several neurons)")
        if row["weight_bits"] is not None and row["weight_bits"] > target["weight_bits"]:
            violations.append(f"{at}: weights need {row['weight_bits']} bits, the target has {target['weight_bits']}")
        memory = row["synapses"] * target["synapse_bytes"] + row["neurons"] * target["neuron_bytes"]
        row["memory_bytes"] = memory
        row["cores"] = max(math.ceil(row["neurons"] / target["neurons_per_core"]),
                           math.ceil(memory / target["memory_per_core"]))
        layers.append(row)
    notes = r.notes
    if r.synapse_bias:
        notes.append(f"{len(r.synapse_bias)} layers add a bias in a synapse without a neuron "
                     f"({', '.join(r.synapse_bias)}); on chip it becomes the receiving neuron's bias: equal unless "
                     f"the 24-bit sum saturates")
    totals = {k: sum(x[k] for x in layers) for k in ("neurons", "synapses", "weights", "memory_bytes", "cores")}
    totals["latency_steps"] = r.lat[-1]
    totals["chips"] = max(1, math.ceil(totals["cores"] / target["cores_per_chip"]))
    for key in ("neurons", "synapses"):
        if totals[key] > target[f"{key}_per_chip"] * totals["chips"]:
            totals["chips"] = math.ceil(totals[key] / target[f"{key}_per_chip"])
    return {"target": target.name, "timesteps": net.timesteps, "layers": layers, "totals": totals,
            "violations": violations, "notes": notes,
            "limits": {k: {"value": v.value, "unit": v.unit, "source": v.source} for k, v in target.limits.items()}}


def report_text(r: dict) -> str:
    tw = max([6] + [len(x["type"]) for x in r["layers"]])  # the type column fits every name (dense_comp)
    head = f"{'#':>3} {'layer':28s} {'type':{tw}s} {'neurons':>9s} {'synapses':>11s} {'fan-in':>7s} " \
           f"{'fan-out':>7s} {'w bits':>6s} {'exp':>4s} {'msg':>4s} {'|I| bits':>8s} {'cores':>5s}"
    lines = [f"target {r['target']}: resource estimate (docs/loihi-mapping.md)", head]
    for x in r["layers"]:
        opt = lambda v: "-" if v is None else str(v)  # noqa: E731
        lines.append(f"{x['index']:3d} {x['name'][:28]:28s} {x['type']:{tw}s} {x['neurons']:9d} {x['synapses']:11d} "
                     f"{x['fan_in']:7d} {x['fan_out']:7d} {opt(x['weight_bits']):>6s} {opt(x['weight_exp']):>4s} "
                     f"{opt(x['message_bits']):>4s} {x['current_bits']:8d} {x['cores']:5d}")
    t = r["totals"]
    lines.append(f"total: {t['neurons']} neurons, {t['synapses']} synapses ({t['weights']} distinct conv/dense "
                 f"weights), {t['memory_bytes'] / 2**20:.1f} MiB, "
                 f"{t['cores']} cores, {t['chips']} chip(s); pipeline latency {t['latency_steps']} steps")
    lines += [f"violation: {v}" for v in r["violations"]] or ["no violations"]
    lines += [f"note: {n}" for n in r["notes"]]
    return "\n".join(lines)
