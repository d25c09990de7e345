"""Benchmark: train msf_tiny_det and msf_tiny_seg on digits-scenes on CPU
(targets: mAP@0.5 >= 0.90, mIoU >= 0.75, each in at most 30 minutes on 2
cores), export each to the integer graph and score it too on the whole test
split (target: within 2 points of torch), and check lava-cpu-fused against the
reference executor on test samples. Writes docs/results/train_dense.json;
with --ship also netx_models/<model>-digits-scenes.net and its card.

    nice .venv/bin/python bench/train_dense.py [--minutes 30] [--threads 2] [--ship]
"""

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from lava_msf.atomic import write_text
from lava_msf.data.scenes import load_scenes
from lava_msf.export import TorchBackend, export_for_data
from lava_msf.model import create_model
from lava_msf.netfile import write_net
from lava_msf.reference import Executor, network_inputs
from lava_msf.runtime import LavaRunner
from lava_msf.tasks import readout_values
from lava_msf.train.dense import evaluate_dense, score, train_dense

TARGETS = {"detect": ("map50", 0.90), "segment": ("miou", 0.75)}
TARGET_SECONDS = 30 * 60
MODELS = {"detect": "msf_tiny_det", "segment": "msf_tiny_seg"}
SHIPPED = Path(__file__).resolve().parents[1] / "netx_models"
CURVE_POINTS = 20


def integer_values(net, x, batch_size=32):
    """The integer network's outputs (reference executor, torch backend), raw (N, K, h, w, T)."""
    executor = Executor(net, TorchBackend)
    out = [executor.run(torch.from_numpy(network_inputs(net, x[i:i + batch_size]))).numpy()
           for i in range(0, len(x), batch_size)]
    return np.concatenate(out)


def bench(task, ns) -> dict:
    train = load_scenes("digits-scenes", "train", limit=ns.limit_train)
    test = load_scenes("digits-scenes", "test", limit=ns.limit_test)
    torch.manual_seed(0)
    model = create_model(MODELS[task], neuron=ns.neuron)
    t0, cpu0 = time.perf_counter(), time.process_time()
    losses = train_dense(model, train, batch_size=ns.batch_size, lr=ns.lr, minutes=ns.minutes)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    torch_score = evaluate_dense(model, test)
    net = export_for_data(model, test)
    raw = integer_values(net, test.x)
    stride = net.meta["output_stride"]
    int_score = score(task, readout_values(net.meta, raw), test, stride)
    n = min(ns.lava_samples, len(test))
    with LavaRunner(net, "lava-cpu-fused", batch_samples=n) as runner:
        lava, _ = runner.run(network_inputs(net, test.x[:n]))
    key, target = TARGETS[task]
    result = {
        "model": MODELS[task], "dataset": "digits-scenes", "timesteps": model.timesteps, "neuron": ns.neuron,
        "batch_size": ns.batch_size, "lr": ns.lr, "train_samples": len(train), "test_samples": len(test),
        "steps": len(losses), "epochs": round(len(losses) * ns.batch_size / len(train), 2),
        "wall_seconds": round(seconds, 1), "process_cpu_seconds": round(cpu, 1),
        "samples_per_second": round(len(losses) * ns.batch_size / seconds, 1),
        "loss_curve": [round(float(np.mean(c)), 4) for c in np.array_split(losses, min(CURVE_POINTS, len(losses)))],
        "torch": torch_score, "integer": int_score,
        "integer_minus_torch_points": round(100 * (int_score[key] - torch_score[key]), 2),
        "lava_fused_equals_reference": {"samples": n, "equal": bool(np.array_equal(lava, raw[:n]))},
        "target": {key: target, "seconds": TARGET_SECONDS},
        "met": bool(torch_score[key] >= target and seconds <= TARGET_SECONDS
                    and abs(int_score[key] - torch_score[key]) <= 0.02),
    }
    if ns.ship:
        ship(net, result, model.config, ns)
    print(json.dumps({k: result[k] for k in ("model", "steps", "torch", "integer", "met")}), flush=True)
    return result


def ship(net, r: dict, config: dict, ns) -> None:
    """netx_models/<model>-digits-scenes.{net,json,md}: the file and its card."""
    name = f"{r['model']}-digits-scenes"
    path = SHIPPED / f"{name}.net"
    write_net(net, path)
    card = {"name": name, "file": path.name, "file_bytes": path.stat().st_size, "model": r["model"],
            "task": net.meta["task"], "config": config, "dataset": "digits-scenes", "timesteps": r["timesteps"],
            "test_samples": r["test_samples"], "scores": {"torch": r["torch"], "integer": r["integer"]},
            "training": {k: r[k] for k in ("steps", "epochs", "batch_size", "lr", "wall_seconds",
                                           "process_cpu_seconds", "samples_per_second")},
            "lava_fused_equals_reference": r["lava_fused_equals_reference"],
            "minutes": ns.minutes,
            "reproduce": f".venv/bin/python bench/train_dense.py --tasks {net.meta['task']} --minutes {ns.minutes:g} "
                         f"--threads {ns.threads} --ship"}
    write_text(SHIPPED / f"{name}.json", json.dumps(card, indent=2, sort_keys=True) + "\n")
    write_text(SHIPPED / f"{name}.md", card_text(card))


def card_text(c: dict) -> str:
    t, i, tr = c["scores"]["torch"], c["scores"]["integer"], c["training"]
    metric = ("mAP@0.5 {map50:.3f}, mAP@0.5:0.95 {map:.3f}" if c["task"] == "detect" else "mIoU {miou:.3f}")
    what = ("CenterNet-style detection: per stride-4 cell 10 center-heatmap logits and 4 box values, "
            "decoded on the host (sigmoid, 3x3 peaks, NMS; lava_msf.tasks.detection)" if c["task"] == "detect" else
            "segmentation: 11 logits (background + 10 digits) per stride-4 cell, upsampled bilinearly and "
            "arg-maxed on the host (lava_msf.tasks.segmentation)")
    lava = c["lava_fused_equals_reference"]
    return "\n".join([
        f"# {c['name']}", "",
        f"Meta-SpikeFormer `{c['model']}` (the backbone with the spiking FPN decoder, docs/dense-prediction.md) "
        f"trained on `digits-scenes` (64 x 64 canvases with 1-4 of scikit-learn's digits), exported to "
        f"`{c['file']}` ({c['file_bytes'] / 2**20:.1f} MiB, NetX HDF5 extended). Task: {what}.", "",
        "| | |", "|---|---|",
        f"| config | embed_dim {c['config']['embed_dim']}, depths {c['config']['depths']}, "
        f"{c['config']['heads']} heads, decoder width {c['config']['decoder_width']}, 1 x 64 x 64 input |",
        f"| time steps T | {c['timesteps']} |",
        f"| training | {tr['steps']} steps of batch {tr['batch_size']} ({tr['epochs']} epochs), lr {tr['lr']}, "
        f"{tr['wall_seconds'] / 60:.1f} min wall, {tr['process_cpu_seconds'] / 60:.1f} min process CPU, "
        f"{tr['samples_per_second']} samples/s |",
        f"| torch (deployable neurons) | {metric.format(**t)} |",
        f"| exported integer network (reference executor) | {metric.format(**i)} |",
        f"| lava-cpu-fused = reference executor | {'yes' if lava['equal'] else 'NO'}, on {lava['samples']} test samples |",
        "",
        f"Scores are on all {c['test_samples']} test canvases (pycocotools COCOeval / pooled mIoU).", "",
        f"Reproduce (train for {c['minutes']:g} minutes, export, measure, write this card):", "",
        "```bash", c["reproduce"], "```", ""])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=30.0, help="wall-clock training budget per model")
    p.add_argument("--threads", type=int, default=2, help="torch threads (1 is faster on a loaded machine)")
    p.add_argument("--neuron", default="deploy", choices=("deploy", "float"))
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--lava-samples", type=int, default=8)
    p.add_argument("--tasks", default="detect,segment")
    p.add_argument("--limit-train", type=int, default=None, help="first N training scenes (a smoke run)")
    p.add_argument("--limit-test", type=int, default=None)
    p.add_argument("--ship", action="store_true", help="write the models and their cards to netx_models/")
    p.add_argument("--result", default="docs/results/train_dense.json")
    ns = p.parse_args()
    torch.set_num_threads(ns.threads)
    result = {"host": {"machine": platform.machine(), "python": platform.python_version(),
                       "threads": torch.get_num_threads(), "load_average_at_start": os.getloadavg()},
              "minutes": ns.minutes, "runs": {}}
    for task in ns.tasks.split(","):
        result["runs"][task] = bench(task, ns)
        result["host"]["load_average_at_end"] = os.getloadavg()
        write_text(ns.result, json.dumps(result, indent=2) + "\n")  # each run kept as it ends
    print(json.dumps(result, indent=2))
    return 0 if all(r["met"] for r in result["runs"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
