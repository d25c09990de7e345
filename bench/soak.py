"""Reliability soak: repeated build/run/stop cycles of the Lava runtime, and a
long streaming run, with resident memory, open file descriptors, threads,
child processes and shared-memory segments measured at start and end.

1. cycles: --cycles times (default 50) build the shipped digits model's Lava
   graph (lava-cpu: one process per layer), run a batch, check it against the
   reference executor, stop the runtime.
2. stream: --steps (default 100k) steps of the shipped dvs-synth model
   streaming the test recordings back to back (EventStream, --backend).
Either is skipped when its count is 0.

    .venv/bin/python bench/soak.py [--cycles 50] [--steps 100000] [--backend lava-cpu-fused] [--out FILE]

Writes docs/results/soak.json (or --out). Shared memory is counted as the
segments the host and its children map, so that other programs' segments do
not disturb the reading.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import psutil
from tqdm import tqdm

from lava_msf.atomic import write_text
from lava_msf.data import load_dataset
from lava_msf.events import synth
from lava_msf.netfile import read_net
from lava_msf.reference import network_inputs
from lava_msf.runtime import LavaRunner
from lava_msf.runtime.evaluate import reference_readout
from lava_msf.stream import EventStream

sys.path.insert(0, str(Path(__file__).parent))
from dvs_stream import looping_stream, test_recordings  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def own_segments(procs) -> int:
    """Lava's shared-memory segments (psm_*) that these processes map."""
    names = set()
    for p in procs:
        try:
            with open(f"/proc/{p.pid}/maps") as maps:
                names |= {line.split("/dev/shm/")[1].strip() for line in maps if "/dev/shm/psm_" in line}
        except OSError:
            pass
    return len(names)


def snapshot(label, **extra) -> dict:
    """Host and descendants: RSS, open fds, threads; live children; their /dev/shm segments."""
    me = psutil.Process()
    procs = [me, *me.children(recursive=True)]
    alive = [p for p in procs if p.is_running()]
    return {"at": label, "rss_mb": sum(p.memory_info().rss for p in alive) / 2 ** 20,
            "host_rss_mb": me.memory_info().rss / 2 ** 20, "open_fds": me.num_fds(),
            "fds_with_children": sum(p.num_fds() for p in alive), "threads": me.num_threads(),
            "children": len(alive) - 1, "shm_segments": own_segments(alive), **extra}


def cycles(n: int) -> dict:
    net = read_net(REPO / "netx_models" / "msf_tiny-digits.net")
    data = load_dataset("digits", "test", 32, net.timesteps, limit=2)
    frames = network_inputs(net, data.x)
    want = reference_readout(net, frames)
    samples, t0 = [snapshot("start")], time.time()
    durations, exact = [], 0
    for i in tqdm(range(n), desc="build/run/stop", unit="cycle"):
        c0 = time.time()
        with LavaRunner(net, "lava-cpu", batch_samples=2) as runner:
            got, _ = runner.run(frames)
        durations.append(time.time() - c0)
        exact += int(np.array_equal(got, want))
        if i in (0, n // 2) or i == n - 1:
            samples.append(snapshot(f"after cycle {i + 1}"))
    return {"cycles": n, "exact_cycles": exact, "seconds": time.time() - t0,
            "cycle_seconds": {"mean": float(np.mean(durations)), "max": float(np.max(durations))},
            "samples": samples}


def stream(steps: int, backend: str) -> dict:
    net = read_net(REPO / "netx_models" / "msf_tiny-dvs-synth.net")
    recordings = test_recordings(32)
    windows = -(-steps // net.timesteps)
    samples = [snapshot("start", step=0)]
    s = EventStream(net, synth.sensor_size(32), backend=backend, t0=0)
    seen, t0 = 0, time.time()
    try:
        for d in tqdm(s.run(looping_stream(recordings, windows)), total=windows, desc="stream", unit="window"):
            seen += d.steps
            if d.window in (0, 10) or (d.window + 1) % max(1, windows // 10) == 0:
                samples.append(snapshot(f"window {d.window + 1}", step=seen, seconds=time.time() - t0))
    finally:
        s.close()
    samples.append(snapshot("after close", step=seen))
    return {"backend": backend, "samples": samples, **s.report()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=50)
    ap.add_argument("--steps", type=int, default=100_000)
    ap.add_argument("--backend", default="lava-cpu-fused")
    ap.add_argument("--out", default=str(REPO / "docs" / "results" / "soak.json"))
    a = ap.parse_args()
    if a.cycles < 0 or a.steps < 0:
        ap.error("--cycles and --steps are counts (0 skips that part)")
    result = {}
    if a.cycles:
        result["cycles"] = cycles(a.cycles)
        print(json.dumps(result["cycles"]["samples"], indent=1), flush=True)
    if a.steps:
        result["stream"] = stream(a.steps, a.backend)
        print(json.dumps(result["stream"]["samples"], indent=1), flush=True)
    write_text(a.out, json.dumps(result, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
