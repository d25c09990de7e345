"""Spike and energy analysis of a deployable network (numpy only).

Energy by the SDT papers' method (45 nm figures):
    E = E_MAC * FLOPs(first layer) * T + sum over later layers of E_AC * FLOPs(layer) * T * fr(layer),
where FLOPs are multiply-accumulates per time step of the graph's (re-parameterized,
BN-folded) conv, dense and SDSA layers and fr is the firing rate of the spikes
that drive the layer. A layer whose input is a linear layer's current (SepConv's
pointwise conv after the depthwise conv: the official code has no SN between)
is driven by the spikes that feed that chain, as a merged conv would be.
Membrane-shortcut sums and the token mean are not counted, as in the papers.
Each layer type gives its operations and what drives them (LayerType.cost_terms;
a recurrent layer's own output drives its recurrent sum). What drives them sets
the price: the input's frames (no neuron encodes them) a MAC per operation at
every step, as the papers' first layer; spikes an AC per operation and message;
graded messages (a sigma-delta neuron's, or any non-binary value) a MAC per
operation and message, a value times a weight (docs/analysis.md).
"""

import numpy as np
from tqdm import tqdm

from ..graph import Network
from ..layers import spec
from ..reference import Executor, network_inputs

E_MAC_PJ = 4.6
E_AC_PJ = 0.9


def layer_flops(net: Network, i: int) -> int:
    """Multiply-accumulates of layer i per time step (0 for layers the method does not count)."""
    return spec(net.layers[i]).flops(net, i)


FRAMES, SPIKES, GRADED = "frames", "spikes", "graded"


def message_kind(layer) -> str:
    """What a layer sends, as the energy method prices it: FRAMES (the input's
    values when no neuron encodes them), SPIKES or GRADED (any other value)."""
    if not layer.inputs and layer.neuron is None:
        return FRAMES
    return SPIKES if layer.spiking else GRADED


def _driver(net: Network, j: int) -> int:
    while spec(net.layers[j]).synaptic and net.layers[j].neuron is None:  # a neuron's output is events
        j = net.layers[j].inputs[0]
    return j


def drivers(net: Network, i: int) -> list[int]:
    """The layers (spiking, graded or the input) whose messages drive layer i:
    found by walking back through neuron-less synapse (conv, dense) layers."""
    return [_driver(net, j) for j in net.layers[i].inputs]


def measure_rates(net: Network, x: np.ndarray, batch: int = 32, raster_layers=(), raster_samples: int = 4,
                  progress: bool = True) -> dict:
    """Fraction of non-zero entries of every layer's output over a dataset, run
    on the reference executor; plus spike rasters (first samples) of chosen layers.
    Returns {"rates": {name: rate}, "samples": n, "rasters": {name: (neurons, samples*T) uint8}}."""
    frames = network_inputs(net, x)
    ex = Executor(net)
    nonzero = np.zeros(len(net.layers))
    total = np.zeros(len(net.layers))
    rasters = {name: [] for name in raster_layers}
    for start in tqdm(range(0, len(frames), batch), desc="spike rates", unit="batch", disable=not progress):
        chunk = frames[start:start + batch]
        ex.reset(len(chunk))
        for t in range(chunk.shape[-1]):
            probes = {}
            ex.step(chunk[..., t], probes)
            for k, layer in enumerate(net.layers):
                value = probes[layer.name][0]
                nonzero[k] += np.count_nonzero(value)
                total[k] += value.size
                if layer.name in rasters and start == 0:
                    rasters[layer.name].append(value[:raster_samples].reshape(min(raster_samples, len(chunk)), -1))
    return {"rates": {layer.name: float(nonzero[k] / total[k]) for k, layer in enumerate(net.layers)},
            "samples": int(len(frames)),
            "rasters": {name: _raster(steps) for name, steps in rasters.items() if steps}}


def _raster(steps: list) -> np.ndarray:
    """Per-step (samples, neurons) values -> (neurons, samples * T) events, sample after sample."""
    s = np.stack(steps, axis=-1) != 0  # (samples, neurons, T)
    return s.transpose(1, 0, 2).reshape(s.shape[1], -1).astype(np.uint8)


def message_layers(net: Network) -> list:
    """The layers that send events: spikes, or a neuron's graded messages."""
    return [layer for layer in net.layers if layer.spiking or layer.neuron is not None]


def _row(net: Network, i: int, rates: dict, t: int) -> dict:
    """Layer i's operations per inference, summed over its cost terms."""
    layer = net.layers[i]
    flops = sops = mac = messages = 0.0
    ops, names, priced = set(), [], False
    for term_flops, sources in spec(layer).cost_terms(net, i):
        src = [net.layers[_driver(net, j)] for j in sources]
        kinds = [message_kind(x) for x in src]
        per = [1.0 if k == FRAMES else rates[x.name] for x, k in zip(src, kinds)]  # frames: every value
        op = "AC" if all(k == SPIKES for k in kinds) else "MAC"
        term = term_flops * t * float(np.mean(per))
        flops, sops, ops = flops + term_flops, sops + term, ops | {op}
        mac += term if op == "MAC" else 0.0
        messages += sum(x.size * t * r for x, r in zip(src, per))
        priced |= any(k != FRAMES for k in kinds)
        names += [x.name for x in src if x.name not in names]
    pj = E_MAC_PJ * mac + E_AC_PJ * (sops - mac)
    return {"name": layer.name, "type": layer.type, "op": "+".join(sorted(ops)), "flops": int(flops),
            "driven_by": names, "input_rate": float(sops / (flops * t)) if priced and flops else None,
            "messages": float(messages), "sops": float(sops), "energy_pj": float(pj),
            "mac_energy_pj": float(E_MAC_PJ * mac)}


def energy(net: Network, rates: dict, timesteps: int | None = None) -> dict:
    """Per-layer and total synaptic operations and energy for one inference (T steps)
    from firing rates {layer name: rate} (e.g. measure_rates()["rates"]): per layer
    its operations (`flops` per step), the messages that drive them per inference,
    synaptic operations (FLOPs x T x their rate) and energy."""
    t = timesteps or net.timesteps
    rows = [_row(net, i, rates, t) for i, layer in enumerate(net.layers) if spec(layer).operator]
    events = message_layers(net)
    total_pj = sum(r["energy_pj"] for r in rows)
    mac_pj = sum(r["mac_energy_pj"] for r in rows)
    totals = {
        "flops": int(sum(r["flops"] for r in rows)),
        "sops": float(sum(r["sops"] for r in rows)),
        "energy_pj": float(total_pj),
        "energy_uj": float(total_pj * 1e-6),
        "mac_energy_pj": float(mac_pj),
        "ac_energy_pj": float(total_pj - mac_pj),
        # the same FLOPs as an ANN: every operation a MAC at every step
        "ann_energy_pj": float(E_MAC_PJ * sum(r["flops"] for r in rows)),
        # events per neuron per step: spikes, and a graded neuron's messages
        "mean_firing_rate": float(np.average([rates[x.name] for x in events],
                                             weights=[x.size for x in events])) if events else 0.0,
    }
    return {"timesteps": t, "e_mac_pj": E_MAC_PJ, "e_ac_pj": E_AC_PJ, "layers": rows, "totals": totals,
            "firing_rates": {x.name: rates[x.name] for x in events},
            "graded_layers": [x.name for x in events if not x.spiking]}
