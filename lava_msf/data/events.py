"""Event-camera datasets as spike frames (N, P, H, W, T) uint8 (1 where a
pixel had at least one event of that polarity in the bin).

`dvs-synth` is simulated here (lava_msf.events.synth); N-MNIST and DVS128
Gesture are read with tonic's dataset classes from a local folder, never
downloaded."""

import functools
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..errors import ConfigError
from ..events import check_events, to_frames
from ..events.transforms import fit_to_input
from ..events.synth import CLASSES as SYNTH_CLASSES
from ..events.synth import DURATION_US, sensor_size, split_recordings

NMNIST_CLASSES = tuple(str(d) for d in range(10))
GESTURE_CLASSES = ("hand clapping", "right hand wave", "left hand wave", "right arm cw", "right arm ccw",
                   "left arm cw", "left arm ccw", "arm roll", "air drums", "air guitar", "other")


class DatasetNotFound(ConfigError):
    """A dataset that is read from disk is not in the given folder."""


def spike_frames(events, size: int, bin_us: int, timesteps: int, t0: int = 0) -> np.ndarray:
    """Events already on a size x size sensor -> spike frames (2, H, W, T) uint8."""
    counts = to_frames(events, (size, size), bin_us, timesteps, t0)
    return np.moveaxis(counts > 0, 0, -1).astype(np.uint8)


@functools.lru_cache(maxsize=8)
def _dvs_synth(split, img_size, timesteps, limit):
    bin_us = DURATION_US // timesteps
    pairs = list(tqdm(split_recordings(split, img_size, limit=limit), desc=f"dvs-synth {split}", leave=False,
                      unit="rec", disable=None, total=limit))
    x = np.stack([spike_frames(ev, img_size, bin_us, timesteps) for ev, _ in pairs])
    y = np.array([label for _, label in pairs], dtype=np.int64)
    return x, y


def load_dvs_synth(split, img_size, timesteps, limit=None, data_dir=None):
    x, y = _dvs_synth(split, img_size, timesteps, limit)
    info = {"classes": list(SYNTH_CLASSES), "bin_us": DURATION_US // timesteps, "duration_us": DURATION_US,
            "sensor_size": list(sensor_size(img_size))}
    return x, y, len(SYNTH_CLASSES), info


def _local(tonic_class, data_dir, expected: str):
    """tonic's dataset class whose download() is refused, and whose presence
    check accepts an extracted folder without the archive."""

    def refuse(self):
        raise DatasetNotFound(f"{tonic_class.__name__} not found under {data_dir}: expected {expected} "
                              f"(lava-msf never downloads)")

    def exists(self):
        return Path(self.location_on_system, self.folder_name).is_dir() and any(
            Path(self.location_on_system, self.folder_name).rglob("*.*"))

    return type(tonic_class.__name__, (tonic_class,), {"download": refuse, "_check_exists": exists})


def _load_tonic(tonic_class, classes, split, img_size, timesteps, limit, data_dir, expected):
    if data_dir is None:
        raise ConfigError(f"dataset {tonic_class.__name__} is read from disk: give --data-dir")
    dataset = _local(tonic_class, data_dir, expected)(str(data_dir), train=split == "train")
    sensor = tonic_class.sensor_size
    if len(dataset) == 0:
        raise DatasetNotFound(f"{tonic_class.__name__} under {data_dir} has no recordings for split {split!r}")
    # tonic lists recordings class by class: a limited subset is spread evenly over them
    n = len(dataset) if limit is None else min(limit, len(dataset))
    index = np.linspace(0, len(dataset) - 1, n).round().astype(int)
    x = np.zeros((n, 2, img_size, img_size, timesteps), dtype=np.uint8)
    y = np.zeros(n, dtype=np.int64)
    durations = []
    for i, j in enumerate(tqdm(index, desc=f"{tonic_class.__name__} {split}", leave=False, unit="rec", disable=None)):
        raw, y[i] = dataset[j]
        events, _ = fit_to_input(check_events(raw, sensor, dataset.data[j]), sensor, img_size)
        t0 = int(raw["t"][0]) if len(raw) else 0
        duration = int(raw["t"][-1]) - t0 + 1 if len(raw) else timesteps
        durations.append(duration)
        x[i] = spike_frames(events, img_size, -(-duration // timesteps), timesteps, t0)
    info = {"classes": list(classes), "bin_us": int(np.median(durations)) // timesteps,
            "sensor_size": list(sensor)}
    return x, y, len(classes), info


def load_nmnist(split, img_size, timesteps, limit=None, data_dir=None):
    import tonic

    return _load_tonic(tonic.datasets.NMNIST, NMNIST_CLASSES, split, img_size, timesteps, limit, data_dir,
                       "NMNIST/Train/<digit>/*.bin and NMNIST/Test/<digit>/*.bin")


def load_dvsgesture(split, img_size, timesteps, limit=None, data_dir=None):
    import tonic

    return _load_tonic(tonic.datasets.DVSGesture, GESTURE_CLASSES, split, img_size, timesteps, limit, data_dir,
                       "DVSGesture/ibmGestureTrain/userNN_<lighting>/<label>.npy (tonic's layout) and ibmGestureTest")
