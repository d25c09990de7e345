"""Benchmark: train msf_tiny_det and msf_tiny_seg on digits-scenes on CPU
(targets: mAP@0.5 >= 0.90, mIoU >= 0.75, each in at most 30 minutes on 2
cores), export each to the integer graph and score it too (target: within 2
points of torch), and check lava-cpu-fused against the reference executor on
test samples. Writes docs/results/train_dense.json.

    nice .venv/bin/python bench/train_dense.py [--epochs 6] [--lava-samples 16]
"""

import argparse
import json
import platform
import sys
import time

import numpy as np
import torch

from lava_msf.atomic import write_text
from lava_msf.data.scenes import load_scenes
from lava_msf.export import TorchBackend, export_network
from lava_msf.model import create_model
from lava_msf.reference import Executor, network_inputs
from lava_msf.runtime import LavaRunner
from lava_msf.tasks import readout_values
from lava_msf.train.dense import evaluate_dense, score, train_dense

TARGETS = {"detect": ("map50", 0.90), "segment": ("miou", 0.75)}
TARGET_SECONDS = 30 * 60
MODELS = {"detect": "msf_tiny_det", "segment": "msf_tiny_seg"}


def integer_values(net, x, batch_size=32):
    executor = Executor(net, TorchBackend)
    out = [executor.run(torch.from_numpy(network_inputs(net, x[i:i + batch_size]))).numpy()
           for i in range(0, len(x), batch_size)]
    return np.concatenate(out)


def bench(task, ns) -> dict:
    train = load_scenes("digits-scenes", "train", limit=ns.limit_train)
    test = load_scenes("digits-scenes", "test", limit=ns.limit_test)
    model = create_model(MODELS[task])
    t0 = time.time()
    losses = train_dense(model, train, epochs=ns.epochs, batch_size=ns.batch_size, lr=ns.lr)
    seconds = time.time() - t0
    torch_score = evaluate_dense(model, test)
    net = export_network(model)
    raw = integer_values(net, test.x)
    stride = net.meta["output_stride"]
    int_score = score(task, readout_values(net.meta, raw), test, stride)
    n = min(ns.lava_samples, len(test))
    frames = network_inputs(net, test.x[:n])
    with LavaRunner(net, "lava-cpu-fused", batch_samples=n) as runner:
        lava, _ = runner.run(frames)
    key, target = TARGETS[task]
    return {
        "model": MODELS[task], "dataset": "digits-scenes", "timesteps": model.timesteps, "epochs": ns.epochs,
        "train_samples": len(train), "test_samples": len(test), "wall_seconds": seconds,
        "loss_first_50": float(np.mean(losses[:50])), "loss_last_50": float(np.mean(losses[-50:])),
        "torch": torch_score, "integer": int_score,
        "integer_minus_torch_points": 100 * (int_score[key] - torch_score[key]),
        "lava_fused_equals_reference": {"samples": n, "equal": bool(np.array_equal(lava, raw[:n]))},
        "target": {key: target, "seconds": TARGET_SECONDS},
        "met": bool(torch_score[key] >= target and seconds <= TARGET_SECONDS
                    and abs(int_score[key] - torch_score[key]) <= 0.02),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--lava-samples", type=int, default=16)
    p.add_argument("--tasks", default="detect,segment")
    p.add_argument("--limit-train", type=int, default=None, help="first N training scenes (a smoke run)")
    p.add_argument("--limit-test", type=int, default=None)
    p.add_argument("--result", default="docs/results/train_dense.json")
    ns = p.parse_args()
    result = {"host": {"machine": platform.machine(), "python": platform.python_version(),
                       "threads": torch.get_num_threads()},
              "runs": {task: bench(task, ns) for task in ns.tasks.split(",")}}
    write_text(ns.result, json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0 if all(r["met"] for r in result["runs"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
