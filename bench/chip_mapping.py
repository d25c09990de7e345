"""Benchmark: the chip mapping.
1. `lava-msf inspect` on the paper-size models at their native size (224x224,
   1000 classes, T=4, untrained weights): totals, violations, time, memory.
2. lava-cpu-decomposed vs lava-cpu on trained msf_tiny: exact agreement on
   digits test samples, processes and steps/s of both.
Writes docs/results/chip_mapping.json.

    .venv/bin/python bench/chip_mapping.py [--net runs/pipeline/model.net] [--samples 32]
"""

import argparse
import json
import resource
import sys
import time

import numpy as np

from lava_msf.atomic import write_text
from lava_msf.chip.loihi2 import LOIHI2
from lava_msf.chip.report import inspect_network


def inspect_paper_model(name: str) -> dict:
    from lava_msf.export import export_network
    from lava_msf.model import create_model

    t0 = time.time()
    net = export_network(create_model(name).eval())
    r = inspect_network(net, LOIHI2)
    sdsa = [x for x in r["layers"] if x["type"] == "sdsa"]
    return {"model": name, "seconds": time.time() - t0, **r["totals"], "violations": r["violations"],
            "sdsa_neurons": sum(x["neurons"] for x in sdsa), "sdsa_synapses": sum(x["synapses"] for x in sdsa),
            "max_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def decomposed_vs_direct(net_path: str, samples: int) -> dict:
    from lava_msf.data import load_dataset
    from lava_msf.netfile import read_net
    from lava_msf.runtime import LavaRunner

    net = read_net(net_path)
    x = load_dataset("digits", "test", net.layers[0].shape[1]).head(samples).x
    from lava_msf.reference import network_inputs

    frames = network_inputs(net, x)
    runs = {}
    for backend in ("lava-cpu", "lava-cpu-decomposed"):
        t0 = time.time()
        with LavaRunner(net, backend, batch_samples=samples) as runner:
            out, _ = runner.run(frames, progress=True)
            runs[backend] = {"readout": out, "processes": len(runner.graph.source.runtime._executable.process_list),
                             "steps": runner.steps, "seconds": time.time() - t0,
                             "compile_seconds": runner.compile_seconds}
    direct, dec = runs["lava-cpu"], runs["lava-cpu-decomposed"]
    same = [bool(np.array_equal(a, b)) for a, b in zip(direct["readout"], dec["readout"])]
    return {"net": net_path, "samples": samples, "identical_samples": int(sum(same)),
            **{f"{k}_{key}": v[key] for k, v in (("direct", direct), ("decomposed", dec))
               for key in ("processes", "steps", "seconds", "compile_seconds")},
            "direct_steps_per_second": direct["steps"] / direct["seconds"],
            "decomposed_steps_per_second": dec["steps"] / dec["seconds"]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--net", default="runs/pipeline/model.net")
    p.add_argument("--samples", type=int, default=32)
    p.add_argument("--models", nargs="*", default=["msf_15m", "msf_8_512"])
    p.add_argument("--out", default="docs/results/chip_mapping.json")
    ns = p.parse_args(argv)
    result = {"paper_models": [], "decomposed": None}
    for name in ns.models:
        result["paper_models"].append(inspect_paper_model(name))
        print(json.dumps(result["paper_models"][-1], indent=2), flush=True)
    result["decomposed"] = decomposed_vs_direct(ns.net, ns.samples)
    print(json.dumps(result["decomposed"], indent=2), flush=True)
    result["met"] = result["decomposed"]["identical_samples"] == ns.samples
    write_text(ns.out, json.dumps(result, indent=2) + "\n")
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
