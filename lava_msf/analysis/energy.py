"""Spike and energy analysis of a deployable network (numpy only).

Energy by the SDT papers' method (45 nm figures):
    E = E_MAC * FLOPs(first layer) * T + sum over later layers of E_AC * FLOPs(layer) * T * fr(layer),
where FLOPs are multiply-accumulates per time step of the graph's (re-parameterized,
BN-folded) conv, dense and SDSA layers and fr is the firing rate of the spikes
that drive the layer. A layer whose input is a linear layer's current (SepConv's
pointwise conv after the depthwise conv: the official code has no SN between)
is driven by the spikes that feed that chain, as a merged conv would be.
Membrane-shortcut sums and the token mean are not counted, as in the papers.
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


def drivers(net: Network, i: int) -> list[int]:
    """The spiking layers (or the input) whose spikes drive layer i: found by
    walking back through neuron-less synapse (conv, dense) layers."""
    out = []
    for j in net.layers[i].inputs:
        while spec(net.layers[j]).synaptic and net.layers[j].neuron is None:  # a neuron's output is events
            j = net.layers[j].inputs[0]
        out.append(j)
    return out


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
    """Per-step (samples, neurons) values -> (neurons, samples * T) spikes, sample after sample."""
    s = np.stack(steps, axis=-1) != 0  # (samples, neurons, T)
    return s.transpose(1, 0, 2).reshape(s.shape[1], -1).astype(np.uint8)


def energy(net: Network, rates: dict, timesteps: int | None = None) -> dict:
    """Per-layer and total synaptic operations and energy for one inference (T steps)
    from firing rates {layer name: rate} (e.g. measure_rates()["rates"])."""
    t = timesteps or net.timesteps
    rows, first = [], True
    for i, layer in enumerate(net.layers):
        if not spec(layer).operator:
            continue
        flops = layer_flops(net, i)
        src = drivers(net, i)
        if first:
            op, rate = "MAC", None
            sops = flops * t
            pj = E_MAC_PJ * sops
            first = False
        else:
            op = "AC"
            rate = float(np.mean([rates[net.layers[j].name] for j in src]))
            sops = flops * t * rate
            pj = E_AC_PJ * sops
        rows.append({"name": layer.name, "type": layer.type, "op": op, "flops": flops,
                     "driven_by": [net.layers[j].name for j in src], "input_rate": rate,
                     "sops": float(sops), "energy_pj": float(pj)})
    spiking = [layer for layer in net.layers if layer.spiking]
    total_pj = sum(r["energy_pj"] for r in rows)
    totals = {
        "flops": int(sum(r["flops"] for r in rows)),
        "sops": float(sum(r["sops"] for r in rows)),
        "energy_pj": float(total_pj),
        "energy_uj": float(total_pj * 1e-6),
        "mac_energy_pj": float(sum(r["energy_pj"] for r in rows if r["op"] == "MAC")),
        "ac_energy_pj": float(sum(r["energy_pj"] for r in rows if r["op"] == "AC")),
        # the same FLOPs as an ANN: every operation a MAC at every step
        "ann_energy_pj": float(E_MAC_PJ * sum(r["flops"] for r in rows)),
        "mean_firing_rate": float(np.average([rates[x.name] for x in spiking],
                                             weights=[np.prod(x.shape) for x in spiking])) if spiking else 0.0,
    }
    return {"timesteps": t, "e_mac_pj": E_MAC_PJ, "e_ac_pj": E_AC_PJ, "layers": rows, "totals": totals,
            "firing_rates": {x.name: rates[x.name] for x in spiking}}
