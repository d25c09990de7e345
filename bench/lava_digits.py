"""Benchmark: the exported networks on Lava's CPU simulator over the whole
digits test split, against the reference executor and torch.
- msf_tiny (from a checkpoint, default the README main job's): Lava fixed_pt
  accuracy == reference executor accuracy, within 1 point of the torch model,
  agreement 100% (every sample's whole readout over T); lava-cpu-float too.
- msf_micro with each SDSA variant (v2, v1_kv, v1_qk), trained here briefly:
  agreement 100%.
Writes docs/results/lava_digits.json.

    .venv/bin/python bench/lava_digits.py [--checkpoint runs/pipeline/best.pt] [--samples N]
"""

import argparse
import json
import sys
from pathlib import Path

from lava_msf.atomic import write_text
from lava_msf.data import load_dataset
from lava_msf.export import TorchBackend, export_network
from lava_msf.netfile import read_net, write_net
from lava_msf.reference import network_inputs
from lava_msf.runtime import get_backend
from lava_msf.runtime.evaluate import compare, reference_readout, run_dataset
from lava_msf.train import TrainArgs, evaluate, load_model, train


def bench(checkpoint: str, out: str, backends, samples) -> list:
    model, _ = load_model(checkpoint)
    data = load_dataset("digits", "test", model.config["img_size"]).head(samples)
    write_net(export_network(model), out)
    net = read_net(out)
    torch_acc = evaluate(model, data)["accuracy"]
    reference = reference_readout(net, network_inputs(net, data.x), TorchBackend)
    results = []
    for backend in backends:
        readout, stats = run_dataset(net, data.x, get_backend(backend))
        r = {"model": model.config["name"], "sdsa": model.config["sdsa"], "checkpoint": checkpoint,
             **stats, **compare(readout, reference, data.y), "torch_accuracy": torch_acc}
        r["points_from_torch"] = 100 * (r["accuracy"] - torch_acc)
        print(json.dumps(r, indent=2), flush=True)
        results.append(r)
    return results


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default="runs/pipeline/best.pt", help="trained msf_tiny checkpoint")
    p.add_argument("--samples", type=int, default=None, help="first N test samples (default: all 360)")
    p.add_argument("--result", default="docs/results/lava_digits.json")
    ns = p.parse_args()
    if not Path(ns.checkpoint).is_file():
        print(f"no checkpoint {ns.checkpoint}: run `lava-msf pipeline` first", file=sys.stderr)
        return 2
    results = bench(ns.checkpoint, "runs/bench-lava/msf_tiny.net", ["lava-cpu", "lava-cpu-float"], ns.samples)
    for sdsa in ("v2", "v1_kv", "v1_qk"):
        out = f"runs/bench-lava/micro-{sdsa}"
        train(TrainArgs(model="msf_micro", sdsa=sdsa, out=out, epochs=3, batch_size=16, lr=5e-3, progress=False))
        results += bench(f"{out}/best.pt", f"{out}/model.net", ["lava-cpu"], ns.samples)
    fixed = [r for r in results if r["backend"] == "lava-cpu"]
    met = all(r["reference_agreement"] == 1.0 and r["accuracy"] == r["reference_accuracy"] for r in fixed) \
        and abs(fixed[0]["points_from_torch"]) <= 1.0
    write_text(ns.result, json.dumps({"results": results, "met": met}, indent=2) + "\n")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
