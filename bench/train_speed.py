"""Benchmark: training throughput of msf_15m (32x32 RGB, T=4, batch 16, 10
classes, AdamW, CPU) next to the official SDT-V2 model code, side by side in one
run, both lava-msf neuron modes. Target: >= 1.5x the official code.

The official model is tests/official_sdt.py (an independent re-implementation
of BICLab/Spike-Driven-Transformer-V2's classification/models.py, the test
oracle of import-sdt), trained with spikingjelly's torch-backend LIF: a
per-step loop with a sigmoid surrogate (alpha 4) and detached reset.

    .venv/bin/python bench/train_speed.py [--steps 6] [--warmup 2] [--threads N] [--profile]

Reports wall-clock and process-CPU-time throughput: on a shared machine the CPU
time (with --threads 1) is the stable one; the models alternate step by step,
so that a load change hits all alike.
"""

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import official_sdt  # noqa: E402

from lava_msf import create_model  # noqa: E402
from lava_msf.atomic import write_text  # noqa: E402

TARGET_RATIO = 1.5


def official_model(timesteps):
    official_sdt.LIF = official_sdt.TrainingLIF  # the classes look LIF up when built
    return official_sdt.randomize(official_sdt.OfficialSDT("15m", 3, 10, T=timesteps))


def training_step(model, batch, size):
    """One AdamW step on a fixed random batch, as a function."""
    torch.manual_seed(0)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x, y = torch.rand(batch, 3, size, size), torch.randint(0, 10, (batch,))

    def step():
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def profile_step(name, step):
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as p:
        step()
    print(f"== {name}\n" + p.key_averages().table(sort_by="self_cpu_time_total", row_limit=25), file=sys.stderr)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--timesteps", type=int, default=4)
    p.add_argument("--img-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--profile", action="store_true", help="print torch.profiler's top ops per model")
    p.add_argument("--result", default="docs/results/train_speed.json")
    ns = p.parse_args()
    if ns.threads:
        torch.set_num_threads(ns.threads)

    models = {
        "official": official_model(ns.timesteps),
        "lava-msf deploy": create_model("msf_15m", num_classes=10, img_size=ns.img_size, timesteps=ns.timesteps,
                                        neuron="deploy"),
        "lava-msf float": create_model("msf_15m", num_classes=10, img_size=ns.img_size, timesteps=ns.timesteps,
                                       neuron="float"),
    }
    steps = {name: training_step(model, ns.batch, ns.img_size) for name, model in models.items()}
    for name, step in steps.items():
        for _ in range(ns.warmup):
            step()
        if ns.profile:
            profile_step(name, step)
    wall, cpu = dict.fromkeys(steps, 0.0), dict.fromkeys(steps, 0.0)
    for _ in range(ns.steps):
        for name, step in steps.items():
            w0, c0 = time.perf_counter(), time.process_time()
            step()
            wall[name] += time.perf_counter() - w0
            cpu[name] += time.process_time() - c0
    rates = {name: ns.steps * ns.batch / wall[name] for name in steps}
    cpu_rates = {name: ns.steps * ns.batch / cpu[name] for name in steps}
    for name in steps:
        print(f"{name:16s} {rates[name]:7.1f} samples/s wall, {cpu_rates[name]:7.1f} per CPU second", file=sys.stderr)
    ratios = {name: rates[name] / rates["official"] for name in rates if name != "official"}
    cpu_ratios = {name: cpu_rates[name] / cpu_rates["official"] for name in rates if name != "official"}
    result = {"model": "msf_15m", "img_size": ns.img_size, "timesteps": ns.timesteps, "batch": ns.batch,
              "steps": ns.steps, "threads": torch.get_num_threads(), "torch": torch.__version__,
              "machine": platform.machine(), "load_average": list(os.getloadavg()),
              "samples_per_second": rates, "ratio_to_official": ratios,
              "samples_per_cpu_second": cpu_rates, "cpu_ratio_to_official": cpu_ratios,
              "target_ratio": TARGET_RATIO, "target_met": all(r >= TARGET_RATIO for r in cpu_ratios.values())}
    write_text(ns.result, json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
