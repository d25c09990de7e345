"""`lava-msf report`: the deployed network's spikes and energy on a dataset
(next to its torch model's), or on the frames of an array file."""

import dataclasses

import numpy as np

from ..errors import ConfigError
from ..graph import Network
from .energy import energy, measure_rates, message_layers


@dataclasses.dataclass(frozen=True)
class Frames:
    """Integer frames (N, C, H, W, T) from a file (`report --inputs`): no labels."""

    name: str  # where they came from: FILE or FILE:KEY
    x: np.ndarray


def default_raster_layers(net: Network) -> list[str]:
    """First, middle and last layer that sends events (spikes or graded messages)."""
    events = [layer.name for layer in message_layers(net)]
    picks = [events[0], events[len(events) // 2], events[-1]] if events else []
    return list(dict.fromkeys(picks))


def analyze(net: Network, data, model=None, raster_layers=None, batch: int = 32, progress: bool = True) -> dict:
    """Firing rates, synaptic operations, FLOPs and energy per inference of `net`
    (reference executor, bit-exact with Lava) on `data` (a dataset, or Frames:
    each sample runs the T steps they give); with `model` (the torch model the
    network was exported from) the same numbers for the torch model."""
    names = {layer.name for layer in net.layers}
    rasters = default_raster_layers(net) if raster_layers is None else list(raster_layers)
    unknown = [r for r in rasters if r not in names]
    if unknown:
        raise ConfigError(f"no layer {unknown[0]!r} in the network; layers that send events: "
                          f"{', '.join(x.name for x in message_layers(net))}")
    frames = isinstance(data, Frames)
    if frames:
        if model is not None:
            raise ConfigError("frames from a file have no torch model's rates: give a dataset with the checkpoint")
        net = dataclasses.replace(net, timesteps=data.x.shape[-1])
    measured = measure_rates(net, data.x, batch, rasters, progress=progress)
    result = {"dataset": None if frames else data.name, "inputs": data.name if frames else None,
              "samples": measured["samples"], "network": energy(net, measured["rates"]),
              "rasters": measured["rasters"], "torch": None}
    if model is not None:
        from ..export import export_network
        from .torch_rates import torch_rates

        twin = export_network(model)
        if [x.name for x in twin.layers] != [x.name for x in net.layers]:
            raise ConfigError("the checkpoint's model does not have the network's layers: "
                              "give the checkpoint the network was exported from")
        result["torch"] = energy(twin, torch_rates(model, twin, data.x))
    return result


def source_text(r: dict) -> str:
    """What the report ran on: the dataset's test split, or the frames of a file (no labels)."""
    if r.get("inputs"):
        return f"{r['inputs']} (frames, no labels: no accuracy)"
    return r["dataset"]


def report_text(r: dict) -> str:
    net, t = r["network"], r["network"]["totals"]
    torch_rows = {x["name"]: x for x in r["torch"]["layers"]} if r["torch"] else {}
    lines = [f"energy per inference on {source_text(r)} ({r['samples']} samples, T={net['timesteps']}); "
             f"E_MAC {net['e_mac_pj']} pJ, E_AC {net['e_ac_pj']} pJ (45 nm)",
             f"{'layer':34s} {'op':6s} {'MFLOPs':>8s} {'rate':>6s} {'torch':>6s} {'MSOPs':>8s} {'nJ':>8s}"]
    for x in net["layers"]:
        tr = torch_rows.get(x["name"], {}).get("input_rate")
        lines.append(f"{x['name'][:34]:34s} {x['op']:6s} {x['flops'] / 1e6:8.3f} "
                     f"{'-' if x['input_rate'] is None else format(x['input_rate'], '.3f'):>6s} "
                     f"{'-' if tr is None else format(tr, '.3f'):>6s} {x['sops'] / 1e6:8.3f} "
                     f"{x['energy_pj'] / 1e3:8.2f}")
    lines.append(f"deployed network: {t['energy_uj']:.3f} uJ ({t['mac_energy_pj'] / 1e6:.3f} MAC + "
                 f"{t['ac_energy_pj'] / 1e6:.3f} AC), {t['sops'] / 1e6:.2f} M SOPs, {t['flops'] / 1e6:.2f} "
                 f"MFLOPs per step, mean firing rate {t['mean_firing_rate']:.4f}; the same FLOPs as an "
                 f"ANN: {t['ann_energy_pj'] / 1e6:.3f} uJ")
    if net["graded_layers"]:
        lines.append(f"graded messages (rate: nonzero messages per neuron per step; a MAC per synaptic "
                     f"operation): {', '.join(net['graded_layers'])}")
    if r["torch"]:
        tt = r["torch"]["totals"]
        lines.append(f"torch model:      {tt['energy_uj']:.3f} uJ, {tt['sops'] / 1e6:.2f} M SOPs, mean firing "
                     f"rate {tt['mean_firing_rate']:.4f}")
    return "\n".join(lines)
