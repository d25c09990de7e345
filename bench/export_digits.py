"""Benchmark: export trained models to .net and check the deployable integer
network on the whole digits test split:
- float (torch, deployable neurons) vs quantized accuracy (target: <= 1 point lost);
- numpy reference executor vs torch backend, every sample, whole output over T.
msf_tiny comes from a checkpoint (default: the README main job's), msf_micro is
trained here for a few epochs. Writes docs/results/export_digits.json.

    .venv/bin/python bench/export_digits.py [--checkpoint runs/pipeline/best.pt]
"""

import argparse
import json
import sys
import time
from pathlib import Path

from lava_msf.atomic import write_text
from lava_msf.data import load_dataset
from lava_msf.export import export_network
from lava_msf.export.verify import verify_network
from lava_msf.netfile import read_net, write_net
from lava_msf.train import TrainArgs, evaluate, load_model, train


def check(checkpoint: str, out: str) -> dict:
    model, _ = load_model(checkpoint)
    data = load_dataset("digits", "test", model.config["img_size"])
    t0 = time.time()
    write_net(export_network(model), out)
    net = read_net(out)  # check what was written, not what is in memory
    export_seconds = time.time() - t0
    float_acc = evaluate(model, data)["accuracy"]
    t0 = time.time()
    r = verify_network(net, data, reference_samples=len(data))
    r.update(model=model.config["name"], checkpoint=checkpoint, net=out, float_accuracy=float_acc,
             accuracy_change_points=100 * (r["quantized_accuracy"] - float_acc), export_seconds=export_seconds,
             verify_seconds=time.time() - t0, file_bytes=Path(out).stat().st_size)
    print(json.dumps(r, indent=2), flush=True)
    return r


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default="runs/pipeline/best.pt", help="trained msf_tiny checkpoint")
    p.add_argument("--result", default="docs/results/export_digits.json")
    ns = p.parse_args()
    if not Path(ns.checkpoint).is_file():
        print(f"no checkpoint {ns.checkpoint}: run `lava-msf pipeline` first", file=sys.stderr)
        return 2
    micro = "runs/bench-export-micro"
    train(TrainArgs(model="msf_micro", out=micro, epochs=4, batch_size=16, lr=5e-3, progress=False))
    results = [check(f"{micro}/best.pt", "runs/bench-export/msf_micro.net"),
               check(ns.checkpoint, "runs/bench-export/msf_tiny.net")]
    met = all(r["reference_agreement"] == 1.0 for r in results) and \
        results[1]["accuracy_change_points"] >= -1.0
    write_text(ns.result, json.dumps({"results": results, "met": met}, indent=2) + "\n")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
