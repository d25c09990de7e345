"""Export trained checkpoints to netx_models/ with their model cards.

For each model: the .net file, `<name>.json` (the card's numbers, read by
tests/test_shipped_models.py) and `<name>.md` (the card). Accuracies are on
the whole test split: torch (deployable neurons), torch with float reference
neurons, the exported integer network (reference executor) and Lava's CPU
simulator (lava-cpu: one process per layer); energy per inference by the SDT
papers' method (`lava-msf report`).

    .venv/bin/python bench/ship_models.py [--only NAME]
"""

import argparse
import json
import sys
from pathlib import Path

from lava_msf.analysis import analyze
from lava_msf.atomic import write_text
from lava_msf.data import load_dataset
from lava_msf.export import evaluate_network, export_for_data
from lava_msf.netfile import read_net, write_net
from lava_msf.reference import predictions
from lava_msf.runtime import get_backend
from lava_msf.runtime.evaluate import run_dataset
from lava_msf.train import evaluate, load_model

OUT = Path(__file__).resolve().parents[1] / "netx_models"
MODELS = {
    "msf_tiny-digits": {
        "checkpoint": "runs/pipeline/best.pt",
        "train": "lava-msf train --model msf_tiny --dataset digits --epochs 12 --out runs/pipeline",
        "about": "scikit-learn's 8x8 handwritten digits, upsampled to 32x32, as 8-bit images repeated over T",
    },
    "msf_tiny-dvs-synth": {
        "checkpoint": "runs/tiny-dvs/best.pt",
        "train": "lava-msf train --model msf_tiny --dataset dvs-synth --epochs 10 --out runs/tiny-dvs",
        "about": "dvs-synth: simulated DVS recordings of 10 gesture-like classes, 2 polarities, "
                 "one event frame per step",
    },
}


def ship(name: str, spec: dict) -> dict:
    model, state = load_model(spec["checkpoint"])
    float_model, _ = load_model(spec["checkpoint"], neuron="float")
    dataset = state["train_args"]["dataset"]
    data = load_dataset(dataset, "test", model.config["img_size"], model.timesteps)
    path = OUT / f"{name}.net"
    write_net(export_for_data(model, data), path)
    net = read_net(path)  # numbers from what was written
    readout, stats = run_dataset(net, data.x, get_backend("lava-cpu"))
    report = analyze(net, data, model)
    t = report["network"]["totals"]
    card = {
        "name": name, "file": path.name, "file_bytes": path.stat().st_size,
        "model": model.config["name"], "config": model.config, "timesteps": model.timesteps,
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "dataset": dataset, "test_samples": len(data), "epoch": int(state["epoch"]),
        "accuracy": {
            "torch": evaluate(model, data)["accuracy"],
            "torch_float_neurons": evaluate(float_model, data)["accuracy"],
            "quantized": evaluate_network(net, data)["accuracy"],
            "lava": float((predictions(readout) == data.y).mean()),
        },
        "lava": {k: stats[k] for k in ("backend", "processes", "steps_per_second", "lava_steps")},
        "energy_per_inference_uj": t["energy_uj"],
        "energy": {"sops": t["sops"], "flops_per_step": t["flops"], "mean_firing_rate": t["mean_firing_rate"],
                   "ann_energy_uj": t["ann_energy_pj"] * 1e-6,
                   "torch_energy_uj": report["torch"]["totals"]["energy_uj"]},
        "reproduce": [f".venv/bin/{spec['train']}", f".venv/bin/python bench/ship_models.py --only {name}"],
        "about": spec["about"],
    }
    write_text(OUT / f"{name}.json", json.dumps(card, indent=2, sort_keys=True) + "\n")
    write_text(OUT / f"{name}.md", card_text(card))
    print(json.dumps(card["accuracy"]), card["energy_per_inference_uj"], flush=True)
    return card


def card_text(c: dict) -> str:
    a, cfg = c["accuracy"], c["config"]
    return "\n".join([
        f"# {c['name']}", "",
        f"Meta-SpikeFormer `{c['model']}` trained on `{c['dataset']}` ({c['about']}), exported to "
        f"`{c['file']}` ({c['file_bytes'] / 2**20:.1f} MiB, NetX HDF5 extended; docs/hdf5-format.md).", "",
        "| | |", "|---|---|",
        f"| config | embed_dim {cfg['embed_dim']}, depths {cfg['depths']}, {cfg['heads']} heads, SDSA "
        f"{cfg['sdsa']}, {cfg['in_channels']} x {cfg['img_size']} x {cfg['img_size']} input, "
        f"{cfg['num_classes']} classes |",
        f"| time steps T | {c['timesteps']} |",
        f"| parameters | {c['parameters']:,} |",
        f"| checkpoint | best test epoch {c['epoch']} |",
        f"| accuracy, torch (deployable neurons) | {100 * a['torch']:.2f} % |",
        f"| accuracy, torch (float reference neurons) | {100 * a['torch_float_neurons']:.2f} % |",
        f"| accuracy, exported integer network (reference executor) | {100 * a['quantized']:.2f} % |",
        f"| accuracy, Lava CPU simulator ({c['lava']['backend']}, {c['lava']['processes']} processes) | "
        f"{100 * a['lava']:.2f} % |",
        f"| energy per inference (SDT method, 45 nm) | {c['energy_per_inference_uj']:.3f} uJ "
        f"(torch model {c['energy']['torch_energy_uj']:.3f} uJ; same FLOPs as an ANN "
        f"{c['energy']['ann_energy_uj']:.3f} uJ) |",
        f"| synaptic operations per inference | {c['energy']['sops'] / 1e6:.2f} M |",
        f"| mean firing rate | {c['energy']['mean_firing_rate']:.4f} |", "",
        f"Accuracies are on all {c['test_samples']} test samples. Run it:", "",
        "```bash", f".venv/bin/lava-msf run netx_models/{c['file']}",
        f".venv/bin/lava-msf report netx_models/{c['file']} --plots runs/report-{c['name']}", "```", "",
        "Reproduce (train, then export and measure this card):", "",
        "```bash", *c["reproduce"], "```", ""])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", choices=sorted(MODELS), default=None)
    ns = p.parse_args()
    for name, spec in MODELS.items():
        if ns.only in (None, name):
            ship(name, spec)
    return 0


if __name__ == "__main__":
    sys.exit(main())
