"""Benchmark: event-camera training and streaming on Lava.

1. train: msf_tiny on dvs-synth (T=4, 10 epochs) unless --checkpoint is given;
   test accuracy of the torch model (target >= 95 %).
2. agreement: the exported network streams the whole dvs-synth test split,
   recordings back to back, continuously on Lava (reset every window); its
   per-window decisions against offline per-recording classification by the
   reference executor (target >= 95 %; bit-exact readouts give 100 %).
3. soak: a --steps long stream (default 100k) of the test recordings,
   looping; resident memory of the host and its Lava processes at the
   start and the end, steps/s.
Writes docs/results/dvs_stream.json.

    .venv/bin/python bench/dvs_stream.py [--checkpoint runs/tiny-dvs/best.pt] [--backend lava-cpu-fused]
                                         [--steps 100000] [--skip-soak]
"""

import argparse
import json
import time

import numpy as np
import psutil
from tqdm import tqdm

from lava_msf.atomic import write_text
from lava_msf.data import load_dataset
from lava_msf.events import synth
from lava_msf.export import TorchBackend, export_for_data
from lava_msf.reference import network_inputs, predictions
from lava_msf.runtime.evaluate import reference_readout
from lava_msf.stream import EventStream
from lava_msf.train import TrainArgs, evaluate, load_model, train


def rss_mb() -> float:
    me = psutil.Process()
    return sum(p.memory_info().rss for p in [me, *me.children(recursive=True)]) / 2 ** 20


def test_recordings(size: int) -> list:
    """The dvs-synth test recordings in split order (label i % 10)."""
    return [events for events, _ in synth.split_recordings("test", size)]


def looping_stream(recordings: list, count: int):
    """`count` recordings back to back, cycling through `recordings` (made
    once: generating one takes longer than the network's step)."""
    for i in range(count):
        ev = recordings[i % len(recordings)].copy()
        ev["t"] += i * synth.DURATION_US
        yield ev


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--backend", default="lava-cpu-fused")
    ap.add_argument("--steps", type=int, default=100_000)
    ap.add_argument("--skip-soak", action="store_true")
    ap.add_argument("--out", default="docs/results/dvs_stream.json")
    a = ap.parse_args()
    result = {}
    t0 = time.time()
    checkpoint = a.checkpoint
    if checkpoint is None:
        train(TrainArgs(model="msf_tiny", dataset="dvs-synth", out="runs/tiny-dvs", epochs=10))
        checkpoint = "runs/tiny-dvs/best.pt"
        result["train_seconds"] = time.time() - t0
    model, state = load_model(checkpoint)
    data = load_dataset("dvs-synth", "test", model.config["img_size"], model.timesteps)
    result["torch_test_accuracy"] = evaluate(model, data)["accuracy"]
    net = export_for_data(model, data)
    reference = reference_readout(net, network_inputs(net, data.x), TorchBackend)
    offline = predictions(reference)
    result["quantized_test_accuracy"] = float((offline == data.y).mean())

    recordings = test_recordings(model.config["img_size"])
    stream = EventStream(net, synth.sensor_size(model.config["img_size"]), backend=a.backend, t0=0)
    decisions = list(stream.run(looping_stream(recordings, len(data))))
    labels = np.array([d.label for d in decisions])
    result["agreement"] = {"recordings": len(data), "decisions": len(decisions),
                           "match_offline": float((labels == offline).mean()),
                           "stream_accuracy": float((labels == data.y).mean()), **stream.report()}
    print(json.dumps(result["agreement"], indent=1))

    if not a.skip_soak:
        windows = -(-a.steps // net.timesteps)
        soak = EventStream(net, synth.sensor_size(model.config["img_size"]), backend=a.backend, t0=0)
        memory, steps_seen, t_soak = [], 0, time.time()
        for d in tqdm(soak.run(looping_stream(recordings, windows)), total=windows, desc="soak", unit="window"):
            steps_seen += d.steps
            if d.window == 10 or d.window % max(1, windows // 10) == 0 or d.window == windows - 1:
                memory.append({"step": steps_seen, "rss_mb": rss_mb(), "seconds": time.time() - t_soak})
        result["soak"] = {"memory": memory, **soak.report()}
        print(json.dumps(result["soak"], indent=1))
    result.update(checkpoint=checkpoint, backend=a.backend, wall_seconds=time.time() - t0)
    write_text(a.out, json.dumps(result, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
