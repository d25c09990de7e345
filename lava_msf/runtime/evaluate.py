"""Run a network over a dataset split on a backend, and compare readouts with
the reference executor's: accuracy, exact agreement per sample, speed."""

import time

import numpy as np

from ..graph import Network
from ..reference import Executor, NumpyBackend, network_inputs, predictions
from .backends import Backend
from .runner import LavaRunner


def reference_readout(net: Network, frames: np.ndarray, backend=NumpyBackend, batch: int = 64) -> np.ndarray:
    """The reference executor's readout (N, C, H, W, T) as int64 numpy; `backend`
    may be its torch twin (lava_msf.export.TorchBackend), which is faster."""
    return reference_run(net, frames, backend, batch)[0]


def reference_run(net: Network, frames: np.ndarray, backend=NumpyBackend, batch: int = 64, probes=()) -> tuple:
    """(reference_readout, {probed layer name: its values (N, C, H, W, T)})."""
    executor = Executor(net, backend)
    readout, probed = [], {name: [] for name in probes}
    for i in range(0, len(frames), batch):
        values = {} if probes else None
        readout.append(np.asarray(executor.run(backend.asint(frames[i:i + batch]), values)))
        for name in probes:
            probed[name].append(np.stack([np.asarray(v) for v in values[name]], axis=-1))
    return np.concatenate(readout), {name: np.concatenate(v) for name, v in probed.items()}


WAVES_PER_RUN = 64  # batches pipelined back to back in one Lava run: the pipeline drains once per run
RUN_BYTES = 256 << 20  # bound on one run's frames and recorded values on the host
DEFAULT_BATCH = 64


def batch_plan(net: Network, backend: Backend, samples: int, batch: int | None = None, probes=()) -> tuple:
    """(batch, samples per Lava run) for `samples` samples: by default batches of
    min(64, samples), one sample on the decomposed backends (no batch axis
    there); up to WAVES_PER_RUN batches per run, fewer where the frames and the
    recorded layers (output, `probes`) would pass RUN_BYTES."""
    if batch is None:
        batch = 1 if backend.decomposed else DEFAULT_BATCH
    batch = min(batch, max(1, samples))  # a batch beyond the samples would only allocate padding
    names = {layer.name: layer for layer in net.layers}
    recorded = net.layers[0].size + net.output.size + sum(names[p].size for p in set(probes) if p in names)
    waves = max(1, min(WAVES_PER_RUN, RUN_BYTES // (12 * batch * max(1, net.timesteps) * recorded)))
    return batch, max(1, min(samples, batch * waves))  # 12 bytes a value: the int32 pipe message, int64 result


def run_dataset(net: Network, x: np.ndarray, backend: Backend, batch: int | None = None,
                progress: bool = True) -> tuple:
    """Run dataset inputs `x` on `backend`, `batch` samples at a time (batch_plan).
    Returns (readout (N, C, H, W, T), stats: wall time and, on Lava, steps,
    steps/s, compile time, latency)."""
    readout, _, stats = run_frames(net, network_inputs(net, x), backend, batch, progress=progress)
    return readout, stats


def run_frames(net: Network, frames: np.ndarray, backend: Backend, batch: int | None = None, probes=(),
               progress: bool = True) -> tuple:
    """Run integer frames (N, C, H, W, T) on `backend`, `batch` samples at a time
    (batch_plan). Returns (readout (N, C, H, W, T), {probed layer name:
    (N, C, H, W, T)}, stats as run_dataset's)."""
    batch, per_run = batch_plan(net, backend, len(frames), batch, probes)
    stats = {"backend": backend.name, "samples": len(frames), "timesteps": net.timesteps, "batch": batch}
    t0 = time.time()
    if backend.lava:
        with LavaRunner(net, backend, per_run, probes, batch) as runner:
            readout, probed = runner.run(frames, progress=progress)
            stats.update(lava_steps=runner.steps, compile_seconds=runner.compile_seconds,
                         latency_steps=runner.graph.latency[-1], processes=len(runner.graph.processes))
        stats["steps_per_second"] = stats["lava_steps"] / max(1e-9, time.time() - t0 - stats["compile_seconds"])
    else:
        readout, probed = reference_run(net, frames, batch=batch, probes=probes)
    stats["wall_seconds"] = time.time() - t0
    return readout, probed, stats


def agreement(readout: np.ndarray, reference: np.ndarray) -> dict:
    """The fraction of samples whose whole readout (all T steps) equals the
    reference's exactly, and the largest difference."""
    n = max(1, len(readout))
    return {"reference_agreement": float(sum(np.array_equal(a, b) for a, b in zip(readout, reference)) / n),
            "max_abs_difference": float(np.abs(readout - reference).max(initial=0))}


def compare(readout: np.ndarray, reference: np.ndarray, labels: np.ndarray) -> dict:
    """Accuracy of both readouts, and their agreement."""
    n = max(1, len(labels))
    return {"accuracy": float((predictions(readout) == labels).sum() / n),
            "reference_accuracy": float((predictions(reference) == labels).sum() / n),
            **agreement(readout, reference)}
