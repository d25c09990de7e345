"""Benchmark: a dvs-synth-scenes detection (or segmentation) .net streamed over
a whole test split (its recordings back to back, one window each, reset every
window) on a Lava backend; the streamed outputs and predictions against the
same .net run offline per window on the reference executor, bit for bit
(target: all equal), and the task metric of both against the windows' targets.
Writes docs/results/dense_stream.json.

    nice .venv/bin/python bench/dense_stream.py netx_models/MODEL.net [--windows N] [--backend lava-cpu-fused]
"""

import argparse
import json
import os
import platform
import resource
import sys
import time

from lava_msf.atomic import write_text
from lava_msf.netfile import read_net
from lava_msf.pipeline import offline_check, scene_chunks, scene_stream, stream_metric
from lava_msf.stream import EventStream


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("net")
    p.add_argument("--windows", type=int, default=None, help="the first N test recordings (default: all 300)")
    p.add_argument("--backend", default="lava-cpu-fused")
    p.add_argument("--result", default="docs/results/dense_stream.json")
    ns = p.parse_args()
    net = read_net(ns.net)
    t0 = time.perf_counter()
    scenes = scene_stream(net, ns.net, "test", ns.windows)
    generated = time.perf_counter() - t0
    t0 = time.perf_counter()
    with EventStream(net, scenes.sensor_size, scenes.bin_us, backend=ns.backend, t0=0) as stream:
        decisions = list(stream.run(scene_chunks(scenes)))
        report = stream.report()
    streamed = time.perf_counter() - t0
    t0 = time.perf_counter()
    check = offline_check(net, scenes, decisions)
    result = {
        "net": ns.net, "backend": ns.backend, "windows": scenes.windows, "events": len(scenes.events),
        "task": stream.task, "offline": check, "offline_seconds": time.perf_counter() - t0,
        "streamed_metric": stream_metric(net, scenes, decisions), "stream_seconds": streamed,
        "generate_seconds": generated, "steps_per_second": report["steps_per_second"],
        "decision_latency_ms": report["decision_latency_ms"], "met": check["identical"],
        "host": {"machine": platform.machine(), "python": platform.python_version(),
                 "load_average_1_5_15min": [round(v, 1) for v in os.getloadavg()],
                 "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)},
    }
    write_text(ns.result, json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0 if check["identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
