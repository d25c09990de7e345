"""PNG plots of a report (matplotlib, headless): per-layer firing rates,
energy breakdown, spike rasters. Each file is written atomically."""

from pathlib import Path

import numpy as np

from ..atomic import atomic_path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> str:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    return str(path)


def write_plots(r: dict, out_dir) -> list[str]:
    """Writes firing_rates.png, energy.png and raster_<layer>.png to out_dir; returns the paths."""
    plt = _pyplot()
    out = Path(out_dir)
    net = r["network"]
    written = []

    names = list(net["firing_rates"])
    fig, ax = plt.subplots(figsize=(max(8, 0.22 * len(names)), 4.5))
    pos = np.arange(len(names))
    width = 0.4 if r["torch"] else 0.8
    ax.bar(pos, [net["firing_rates"][n] for n in names], width, label="deployed network (integer, = Lava)")
    if r["torch"]:
        ax.bar(pos + width, [r["torch"]["firing_rates"][n] for n in names], width, label="torch model")
    ax.set_xticks(pos + (width / 2 if r["torch"] else 0), names, rotation=90, fontsize=7)
    ax.set_ylabel("firing rate (events per neuron per step)")
    ax.set_xlabel("layer sending spikes or graded messages")
    ax.set_title(f"Per-layer firing rates on {r.get('inputs') or r['dataset']} ({r['samples']} samples, "
                 f"T={net['timesteps']})")
    ax.legend()
    written.append(_save(fig, out / "firing_rates.png"))
    plt.close(fig)

    rows = net["layers"]
    fig, ax = plt.subplots(figsize=(max(8, 0.22 * len(rows)), 4.5))
    colors = ["tab:blue" if x["op"] == "AC" else "tab:red" for x in rows]
    ax.bar(np.arange(len(rows)), [x["energy_pj"] / 1e3 for x in rows], color=colors)
    ax.set_xticks(np.arange(len(rows)), [x["name"] for x in rows], rotation=90, fontsize=7)
    ax.set_ylabel("energy per inference (nJ)")
    ax.set_xlabel(f"layer (red: MAC at {net['e_mac_pj']} pJ, frames or graded messages; blue: AC at "
                  f"{net['e_ac_pj']} pJ x firing rate)")
    t = net["totals"]
    ax.set_title(f"Energy breakdown: {t['energy_uj']:.3f} uJ per inference "
                 f"(MAC {t['mac_energy_pj'] / 1e6:.3f} uJ, AC {t['ac_energy_pj'] / 1e6:.3f} uJ)")
    written.append(_save(fig, out / "energy.png"))
    plt.close(fig)

    for name, raster in r["rasters"].items():
        neurons = raster.shape[0]
        keep = np.linspace(0, neurons - 1, min(neurons, 256)).astype(int)  # at most 256 rows
        fig, ax = plt.subplots(figsize=(8, 4.5))
        ys, xs = np.nonzero(raster[keep])
        ax.scatter(xs, ys, s=4, marker="|", color="black")
        steps = net["timesteps"]
        for b in range(steps, raster.shape[1], steps):
            ax.axvline(b - 0.5, color="tab:gray", lw=0.5)
        ax.set_xlim(-0.5, raster.shape[1] - 0.5)
        ax.set_ylim(-0.5, len(keep) - 0.5)
        ax.set_xlabel(f"time step ({raster.shape[1] // steps} samples x T={steps}, separated by lines)")
        ax.set_ylabel(f"neuron ({len(keep)} of {neurons})")
        ax.set_title(f"Spike raster: {name} (firing rate {raster.mean():.3f} in these samples)")
        written.append(_save(fig, out / f"raster_{name.replace('/', '_')}.png"))
        plt.close(fig)
    return written
