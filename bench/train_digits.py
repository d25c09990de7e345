"""Benchmark: train msf_tiny on digits at T=4 on CPU; target >= 97% test accuracy
in under 15 minutes on 2 cores. Writes docs/results/train_digits.json.

    .venv/bin/python bench/train_digits.py [--epochs 12] [--out runs/bench-train-digits]
"""

import argparse
import json
import platform
import sys
import time

import torch

from lava_msf.atomic import write_text
from lava_msf.train import TrainArgs, evaluate_checkpoint, train

TARGET_ACCURACY = 0.97
TARGET_SECONDS = 15 * 60


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=TrainArgs.epochs)
    p.add_argument("--out", default="runs/bench-train-digits")
    p.add_argument("--result", default="docs/results/train_digits.json")
    ns = p.parse_args()

    args = TrainArgs(model="msf_tiny", dataset="digits", timesteps=4, epochs=ns.epochs, out=ns.out,
                     device="cpu")
    t0 = time.time()
    final = train(args)
    seconds = time.time() - t0
    log = [json.loads(x) for x in open(f"{ns.out}/log.jsonl")]
    deploy = evaluate_checkpoint(f"{ns.out}/best.pt", "digits")
    float_acc = evaluate_checkpoint(f"{ns.out}/best.pt", "digits", neuron="float")["accuracy"]
    result = {
        "model": "msf_tiny", "dataset": "digits", "timesteps": 4, "epochs": ns.epochs,
        "batch_size": args.batch_size, "train_samples": log[0]["samples_per_second"] * log[0]["epoch_seconds"],
        "wall_seconds": seconds,
        "final_test_accuracy": final["test_accuracy"],
        "best_epoch": deploy["epoch"],
        "best_test_accuracy": deploy["accuracy"],
        "best_test_accuracy_float_neuron": float_acc,
        "test_firing_rate": deploy["firing_rate"],
        "mean_train_samples_per_second": sum(m["samples_per_second"] for m in log) / len(log),
        "first_epoch_reaching_target": next((m["epoch"] for m in log if m["test_accuracy"] >= TARGET_ACCURACY), None),
        "per_epoch_test_accuracy": [m["test_accuracy"] for m in log],
        "machine": {"cpus": torch.get_num_threads(), "python": platform.python_version(),
                    "torch": torch.__version__, "processor": platform.processor() or platform.machine()},
        "targets": {"accuracy": TARGET_ACCURACY, "seconds": TARGET_SECONDS},
    }
    result["met"] = result["best_test_accuracy"] >= TARGET_ACCURACY and seconds < TARGET_SECONDS
    write_text(ns.result, json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
