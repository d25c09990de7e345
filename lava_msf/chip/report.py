"""Resource report and constraint check of a layer graph on a Loihi-class
target (`lava-msf inspect`): counts from the graph alone, nothing is run.

Per layer: chip neurons, synapses, the largest fan-in and fan-out, weight
bits and exponent, message bits, a bound on the synaptic current (from the
weights, so it holds for every input), and estimated cores. SDSA and merge are
counted in their chip-mappable decomposition (lava_msf.chip.mapping). Layers
are placed on cores of their own (as Lava maps processes); a layer's cores are
the most of what its neurons and its memory need.
"""

import math

import numpy as np

from ..graph import Layer, Network
from ..reference import shift, value_shift
from .loihi2 import Target
from .mapping import OUTPUT, input_delays, latencies, merge_decomposition, sdsa_decomposition

IMAGE_MAX = 255  # 8-bit input frames


def _bits(x: int) -> int:
    """Bits of a signed integer range holding -x..x."""
    return int(x).bit_length() + 1


def _conv_axis(n_in: int, n_out: int, k: int, stride: int, pad: int):
    """Per output position the taps inside the input; per input position the
    outputs it reaches (one spatial axis)."""
    taps = np.zeros(n_out, dtype=np.int64)
    reach = np.zeros(n_in, dtype=np.int64)
    for o in range(n_out):
        pos = o * stride - pad + np.arange(k)
        pos = pos[(pos >= 0) & (pos < n_in)]
        taps[o] = len(pos)
        reach[pos] += 1
    return taps, reach


def _synapse_counts(layer: Layer, src: Layer):
    """(synapses, max fan-in, max fan-out) of a conv or dense layer, padding taps excluded."""
    if layer.type == "dense":
        n_in, n_out = int(np.prod(src.shape)), layer.shape[0]
        return n_in * n_out, n_in, n_out
    stride, pad, groups = layer.conv_geometry
    c_out, c_in_g, kh, kw = layer.weight.shape
    ty, ry = _conv_axis(src.shape[1], layer.shape[1], kh, stride, pad)
    tx, rx = _conv_axis(src.shape[2], layer.shape[2], kw, stride, pad)
    return (c_out * c_in_g * int(ty.sum()) * int(tx.sum()), c_in_g * int(ty.max()) * int(tx.max()),
            c_out // groups * int(ry.max()) * int(rx.max()))


def _current_bound(layer: Layer, src_bound: int, src: Layer) -> int:
    """Largest |synaptic current| any input can give: per output channel the sum
    of |w| times the largest input, shifted as the synapse shifts, plus |bias|."""
    w = np.abs(layer.weight.astype(np.int64)).reshape(layer.weight.shape[0], -1).sum(axis=1)
    acc = shift(w * src_bound, layer.weight_exp - value_shift(src))
    bias = 0 if layer.bias is None or layer.neuron is not None else np.abs(layer.bias.astype(np.int64))
    return int((acc + bias).max())


def _weight_bits(weight: np.ndarray) -> int:
    """Mantissa bits Lava stores: mixed-sign weights keep even values, w/2 in 8 bits."""
    m = int(np.abs(weight).max())
    return _bits(m) - 1 if not (weight % 2).any() else _bits(m)


def _mean_weight(m: int, k: int):
    """(sum * m) >> k as one synapse weight and exponent: m's trailing zeros
    move into the exponent (exact)."""
    while m and m % 2 == 0 and k > 0:
        m, k = m // 2, k - 1
    return m, -k


def inspect_network(net: Network, target: Target) -> dict:
    layers, violations, notes, bounds, synapse_bias = [], [], [], [], []
    lat = latencies(net, decomposed=True)
    for i, layer in enumerate(net.layers):
        row = {"index": i, "name": layer.name, "type": layer.type, "shape": list(layer.shape), "neurons": 0,
               "synapses": 0, "weights": 0, "fan_in": 0, "fan_out": 0, "weight_bits": None, "weight_exp": None,
               "message_bits": None, "current_bound": 0, "current_bits": None}
        at = f"layer {i} ({layer.name})"
        size = int(np.prod(layer.shape))
        src = [net.layers[j] for j in layer.inputs]
        src_bound = [1 if s.spiking else bounds[j] for s, j in zip(src, layer.inputs)]
        if src:  # what the layer's input messages carry
            row["message_bits"] = layers[0]["message_bits"] if src[0].type == "input" else \
                0 if src[0].spiking else target["message_bits"]
        if layer.type == "input":
            bound = IMAGE_MAX if net.meta.get("input") == "image" else 1
            row["message_bits"] = 0 if bound == 1 else _bits(bound) - 1
        elif layer.type in ("conv", "dense"):
            row["synapses"], row["fan_in"], row["fan_out"] = _synapse_counts(layer, src[0])
            row["weight_bits"], row["weight_exp"] = _weight_bits(layer.weight), int(layer.weight_exp)
            row["weights"] = int(layer.weight.size)
            bound = _current_bound(layer, src_bound[0], src[0])
            if layer.bias is not None and layer.neuron is None:
                synapse_bias.append(layer.name)
        elif layer.type == "neuron":
            bound = src_bound[0]
        elif layer.type == "mean":
            m, k = int(layer.attrs["scale_mant"]), int(layer.attrs["scale_shift"])
            hw = src[0].shape[1] * src[0].shape[2]
            weight, exp = _mean_weight(m, k)
            row.update(synapses=int(np.prod(src[0].shape)), fan_in=hw, fan_out=1, weight_bits=_bits(weight) - 1,
                       weight_exp=exp)
            bound = (src_bound[0] * hw * m) >> k
        else:  # merge, sdsa: their chip-mappable decompositions
            c, h, w = layer.shape
            if layer.type == "merge":
                dec = merge_decomposition((w, h, c), sorted(set(input_delays(net, i, lat))))
                bound = sum(src_bound)
            else:
                heads, scale = int(layer.attrs["heads"]), int(layer.attrs["scale"])
                dec = sdsa_decomposition((w, h, c), layer.attrs["variant"], heads, scale)
                counts = {"v2": c // heads * h * w, "v1_kv": h * w, "v1_qk": c // heads}
                bound = scale * counts[layer.attrs["variant"]]
                row["weight_bits"], row["weight_exp"] = _bits(scale) - 1, 0
                if layer.attrs["variant"] == "v2":
                    notes.append(f"{at}: V2 SDSA needs graded ProdNeurons (Q gates the K^T V counts): "
                                 f"{dec.population('prod').size} of them")
            sizes = {p.name: p.size for p in dec.populations}
            row["neurons"] = dec.neurons
            row["synapses"] = sum(p.synapses(size if p.dst == OUTPUT else sizes[p.dst]) for p in dec.projections)
            row["fan_in"] = max((p.fan_in for p in dec.projections), default=1)
            row["fan_out"] = max((p.fan_out for p in dec.projections), default=1)
            row["decomposition"] = {"populations": {p.name: [p.kind, p.size] for p in dec.populations},
                                    "latency_steps": dec.latency}
        if layer.neuron is not None and layer.type != "sdsa":
            row["neurons"] = size
        if layer.neuron is not None:
            _check_neuron(layer, at, target, violations)
        bounds.append(bound)
        row["current_bound"] = int(bound)
        row["current_bits"] = _bits(bound)
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
    if synapse_bias:
        notes.append(f"{len(synapse_bias)} layers add a bias in a synapse without a neuron ({', '.join(synapse_bias)}); "
                     f"on chip it becomes the receiving neuron's bias: equal unless the 24-bit sum saturates")
    totals = {k: sum(r[k] for r in layers) for k in ("neurons", "synapses", "weights", "memory_bytes", "cores")}
    totals["latency_steps"] = lat[-1]
    totals["chips"] = max(1, math.ceil(totals["cores"] / target["cores_per_chip"]))
    for key in ("neurons", "synapses"):
        if totals[key] > target[f"{key}_per_chip"] * totals["chips"]:
            totals["chips"] = math.ceil(totals[key] / target[f"{key}_per_chip"])
    return {"target": target.name, "timesteps": net.timesteps, "layers": layers, "totals": totals,
            "violations": violations, "notes": notes,
            "limits": {k: {"value": v.value, "unit": v.unit, "source": v.source} for k, v in target.limits.items()}}


def _check_neuron(layer: Layer, at: str, target: Target, violations: list) -> None:
    p = layer.neuron
    if p.vth_mant >= 1 << target["threshold_bits"]:
        violations.append(f"{at}: threshold mantissa {p.vth_mant} over {target['threshold_bits']} bits")
    if max(p.i_decay - 1, p.v_decay) >= 1 << target["decay_bits"]:
        violations.append(f"{at}: decays {p.i_decay}, {p.v_decay} over {target['decay_bits']} bits")
    if layer.bias is not None and np.abs(layer.bias).max(initial=0) >= 1 << (target["bias_mant_bits"] - 1):
        violations.append(f"{at}: bias up to {int(np.abs(layer.bias).max())} over "
                          f"{target['bias_mant_bits']} bits of bias_mant")


def report_text(r: dict) -> str:
    head = f"{'#':>3} {'layer':28s} {'type':6s} {'neurons':>9s} {'synapses':>11s} {'fan-in':>7s} " \
           f"{'fan-out':>7s} {'w bits':>6s} {'exp':>4s} {'msg':>4s} {'|I| bits':>8s} {'cores':>5s}"
    lines = [f"target {r['target']}: resource estimate (docs/loihi-mapping.md)", head]
    for x in r["layers"]:
        opt = lambda v: "-" if v is None else str(v)  # noqa: E731
        lines.append(f"{x['index']:3d} {x['name'][:28]:28s} {x['type']:6s} {x['neurons']:9d} {x['synapses']:11d} "
                     f"{x['fan_in']:7d} {x['fan_out']:7d} {opt(x['weight_bits']):>6s} {opt(x['weight_exp']):>4s} "
                     f"{opt(x['message_bits']):>4s} {x['current_bits']:8d} {x['cores']:5d}")
    t = r["totals"]
    lines.append(f"total: {t['neurons']} neurons, {t['synapses']} synapses ({t['weights']} distinct conv/dense "
                 f"weights), {t['memory_bytes'] / 2**20:.1f} MiB, "
                 f"{t['cores']} cores, {t['chips']} chip(s); pipeline latency {t['latency_steps']} steps")
    lines += [f"violation: {v}" for v in r["violations"]] or ["no violations"]
    lines += [f"note: {n}" for n in r["notes"]]
    return "\n".join(lines)
