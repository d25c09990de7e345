"""Benchmark: train msf_tiny_det on dvs-synth-scenes (event frames, 2
polarity channels, one frame per step) on CPU within a wall budget (target:
mAP@0.5 >= 0.80 in at most 30 minutes on 2 cores), score torch and the
exported integer network on the whole test split (target: within 2 points),
check lava-cpu-fused against the reference executor on test samples, and ship
the detector to netx_models/ with its card. Writes docs/results/train_dense_dvs.json.

The decision is the last step's output (config readout "last"): the objects
move, and a window's targets are those at its end.

    nice .venv/bin/python bench/train_dense_dvs.py [--minutes 30] [--lava-samples 4]
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
from lava_msf.export import export_for_data
from lava_msf.netfile import read_net, write_net
from lava_msf.runtime import LavaRunner
from lava_msf.reference import network_inputs
from lava_msf.model import create_model
from lava_msf.tasks import readout_values
from lava_msf.train.checkpoint import load_model, save_checkpoint
from lava_msf.train.dense import evaluate_dense, score, train_dense
from train_dense import integer_values

TARGET_MAP50, TARGET_SECONDS = 0.80, 30 * 60
NAME = "msf_tiny_det-dvs-synth-scenes"
SHIP = Path(__file__).resolve().parents[1] / "netx_models"


def card_text(c: dict) -> str:
    t, q = c["scores"]["torch"], c["scores"]["integer"]
    return "\n".join([
        f"# {c['name']}", "",
        f"Meta-SpikeFormer `{c['model']}` detector (FPN decoder, CenterNet-style head) trained on "
        f"`{c['dataset']}` (1-3 moving shapes, 4 classes; event frames, 2 polarities, one frame per step), "
        f"exported to `{c['file']}` ({c['file_bytes'] / 2**20:.1f} MiB). The decision is the last step's "
        "output (config readout \"last\"); boxes are decoded on the host (lava_msf.tasks.detection).", "",
        "| | |", "|---|---|",
        f"| time steps T | {c['timesteps']} (bins of {c['bin_us']} us) |",
        f"| parameters | {c['parameters']:,} |",
        f"| training | {c['steps']} steps of batch {c['batch_size']}, {c['wall_seconds'] / 60:.1f} min wall |",
        f"| mAP@0.5 / mAP@0.5:0.95, torch | {t['map50']:.3f} / {t['map']:.3f} |",
        f"| mAP@0.5 / mAP@0.5:0.95, integer network (reference executor) | {q['map50']:.3f} / {q['map']:.3f} |",
        f"| lava-cpu-fused == reference | {c['lava_fused_equals_reference']} |", "",
        f"On all {c['test_samples']} test recordings. Reproduce: `{c['reproduce']}`", ""])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=30.0, help="wall budget of the training")
    p.add_argument("--timesteps", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=4e-3)
    p.add_argument("--lava-samples", type=int, default=4)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--checkpoint", default="runs/dvs-det/last.pt")
    p.add_argument("--evaluate-only", action="store_true", help="score and ship --checkpoint, no training")
    p.add_argument("--result", default="docs/results/train_dense_dvs.json")
    ns = p.parse_args()
    torch.set_num_threads(ns.threads)
    t = time.time()
    train = load_scenes("dvs-synth-scenes", "train", 64, ns.timesteps)
    test = load_scenes("dvs-synth-scenes", "test", 64, ns.timesteps)
    data_seconds = time.time() - t
    if ns.evaluate_only:  # the checkpoint of a finished training, its statistics in its metrics
        model, state = load_model(ns.checkpoint)
        stats = state["metrics"]
    else:
        model = create_model("msf_tiny_det", timesteps=ns.timesteps, in_channels=2, num_classes=train.num_classes,
                             readout="last")
        t, cpu = time.time(), time.process_time()
        losses = train_dense(model, train, batch_size=ns.batch_size, lr=ns.lr, minutes=ns.minutes)
        stats = {"steps": len(losses), "wall_seconds": time.time() - t, "process_cpu_seconds": time.process_time() - cpu,
                 "loss_first_50": float(np.mean(losses[:50])), "loss_last_50": float(np.mean(losses[-50:]))}
        save_checkpoint(ns.checkpoint, model, 0, stats, {"model": "msf_tiny_det", "dataset": "dvs-synth-scenes"})
    seconds = stats["wall_seconds"]
    torch_score = evaluate_dense(model, test)
    path = SHIP / f"{NAME}.net"
    write_net(export_for_data(model, test), path)
    net = read_net(path)  # numbers from what was written
    raw = integer_values(net, test.x)
    int_score = score("detect", readout_values(net.meta, raw), test, net.meta["output_stride"])
    n = min(ns.lava_samples, len(test))
    with LavaRunner(net, "lava-cpu-fused", batch_samples=n) as runner:
        lava, _ = runner.run(network_inputs(net, test.x[:n]))
    equal = bool(np.array_equal(lava, raw[:n]))
    run = {
        "model": "msf_tiny_det", "dataset": "dvs-synth-scenes", "timesteps": ns.timesteps, "readout": "last",
        "batch_size": ns.batch_size, "lr": ns.lr, "minutes_budget": ns.minutes, **stats,
        "train_samples": len(train), "test_samples": len(test), "data_seconds": data_seconds,
        "samples_per_second": stats["steps"] * ns.batch_size / seconds,
        "torch_threads": ns.threads, "load_average": os.getloadavg(),
        "torch": torch_score, "integer": int_score,
        "integer_minus_torch_points": 100 * (int_score["map50"] - torch_score["map50"]),
        "lava_fused_equals_reference": {"samples": n, "equal": equal},
        "target": {"map50": TARGET_MAP50, "seconds": TARGET_SECONDS},
        "met": bool(torch_score["map50"] >= TARGET_MAP50 and seconds <= TARGET_SECONDS
                    and abs(int_score["map50"] - torch_score["map50"]) <= 0.02 and equal),
    }
    card = {"name": NAME, "file": path.name, "file_bytes": path.stat().st_size, "model": "msf_tiny_det",
            "dataset": "dvs-synth-scenes", "task": "detect", "timesteps": ns.timesteps,
            "bin_us": test.info["bin_us"], "parameters": int(sum(p.numel() for p in model.parameters())),
            "steps": stats["steps"], "batch_size": ns.batch_size, "wall_seconds": seconds,
            "test_samples": len(test), "scores": {"torch": torch_score, "integer": int_score},
            "lava_fused_equals_reference": f"{equal} ({n} samples)",
            "reproduce": f".venv/bin/python bench/train_dense_dvs.py --minutes {ns.minutes:g}"}
    write_text(SHIP / f"{NAME}.json", json.dumps(card, indent=2, sort_keys=True) + "\n")
    write_text(SHIP / f"{NAME}.md", card_text(card))
    result = {"host": {"machine": platform.machine(), "python": platform.python_version()}, "run": run}
    write_text(ns.result, json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0 if run["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
