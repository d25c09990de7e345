"""Event-camera datasets as spike frames (N, P, H, W, T) uint8 (1 where a
pixel had at least one event of that polarity in the bin).

`dvs-synth` is simulated here (lava_msf.events.synth); N-MNIST, DVS128
Gesture, CIFAR10-DVS and N-Caltech101 are listed with tonic's dataset classes
in a local folder, never downloaded. CIFAR10-DVS and N-Caltech101 have no
official split: the first 90% of each class (in file-name order) is the
training split, the rest the test split (SpikingJelly's split, which the
SDT papers use)."""

import functools
import math
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..events import check_events, read_events, to_frames
from ..events.transforms import fit_to_input
from ..events.synth import CLASSES as SYNTH_CLASSES
from ..events.synth import DURATION_US, sensor_size, split_recordings
from .common import DatasetNotFound, spread

NMNIST_CLASSES = tuple(str(d) for d in range(10))
GESTURE_CLASSES = ("hand clapping", "right hand wave", "left hand wave", "right arm cw", "right arm ccw",
                   "left arm cw", "left arm ccw", "arm roll", "air drums", "air guitar", "other")
TRAIN_FRACTION = 0.9  # CIFAR10-DVS and N-Caltech101, per class
NCALTECH_SENSOR = (240, 180, 2)  # recordings are shifted to start at (0, 0); at most 240 x 180


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


def _per_class_split(labels, split: str) -> np.ndarray:
    """Indices of the first TRAIN_FRACTION of each class (rounded up), or of the rest."""
    labels = np.asarray(labels)
    index = []
    for label in dict.fromkeys(labels.tolist()):
        members = np.flatnonzero(labels == label)
        cut = math.ceil(len(members) * TRAIN_FRACTION)
        index += list(members[:cut] if split == "train" else members[cut:])
    return np.asarray(sorted(index), dtype=int)


def _load_tonic(tonic_class, classes, split, img_size, timesteps, limit, data_dir, expected, read, has_split=True):
    """Spike frames of the recordings of a tonic dataset class found locally.
    read(dataset, j) -> (events, sensor size) of recording j."""
    name = tonic_class.__name__
    if data_dir is None:
        raise DatasetNotFound(f"dataset {name} is read from disk: give --data-dir (expected {expected})")
    local = _local(tonic_class, data_dir, expected)
    try:
        dataset = local(str(data_dir), train=split == "train") if has_split else local(str(data_dir))
    except (KeyError, ValueError) as e:  # a folder tonic cannot name a class
        raise DatasetNotFound(f"{name} under {data_dir}: unexpected folder {e}: expected {expected}") from None
    labels = np.array([classes.index(t) if isinstance(t, str) else int(t) for t in dataset.targets], dtype=np.int64)
    split_index = np.arange(len(labels)) if has_split else _per_class_split(labels, split)
    if len(split_index) == 0:
        raise DatasetNotFound(f"{name} under {data_dir} has no recordings for split {split!r}: expected {expected}")
    index = split_index[spread(len(split_index), limit)]
    x = np.zeros((len(index), 2, img_size, img_size, timesteps), dtype=np.uint8)
    durations = []
    for i, j in enumerate(tqdm(index, desc=f"{name} {split}", leave=False, unit="rec", disable=None)):
        raw, sensor = read(dataset, j)
        events, _ = fit_to_input(raw, sensor, img_size)
        t0 = int(raw["t"][0]) if len(raw) else 0
        duration = int(raw["t"][-1]) - t0 + 1 if len(raw) else timesteps
        durations.append(duration)
        x[i] = spike_frames(events, img_size, -(-duration // timesteps), timesteps, t0)
    info = {"classes": list(classes), "bin_us": int(np.median(durations)) // timesteps,
            "sensor_size": list(sensor)}
    return x, labels[index], len(classes), info


def _read_item(dataset, j):
    """A recording through tonic's own reader, checked."""
    raw, _ = dataset[j]
    return check_events(raw, dataset.sensor_size, dataset.data[j]), dataset.sensor_size


def load_nmnist(split, img_size, timesteps, limit=None, data_dir=None):
    import tonic

    return _load_tonic(tonic.datasets.NMNIST, NMNIST_CLASSES, split, img_size, timesteps, limit, data_dir,
                       "DIR/NMNIST/Train/<digit>/*.bin and DIR/NMNIST/Test/<digit>/*.bin", _read_item)


def load_dvsgesture(split, img_size, timesteps, limit=None, data_dir=None):
    import tonic

    return _load_tonic(tonic.datasets.DVSGesture, GESTURE_CLASSES, split, img_size, timesteps, limit, data_dir,
                       "DIR/DVSGesture/ibmGestureTrain/userNN_<lighting>/<label>.npy (tonic's layout) and "
                       "ibmGestureTest", _read_item)


def load_cifar10dvs(split, img_size, timesteps, limit=None, data_dir=None):
    import tonic

    cls = tonic.datasets.CIFAR10DVS
    # lava-msf's AEDAT4 reader checks the header the aedat decoder would abort on
    return _load_tonic(cls, tuple(cls.classes), split, img_size, timesteps, limit, data_dir,
                       "DIR/CIFAR10DVS/<class>/*.aedat4, class in airplane..truck (tonic's layout)",
                       lambda dataset, j: read_events(dataset.data[j]), has_split=False)


def load_ncaltech101(split, img_size, timesteps, limit=None, data_dir=None):
    import tonic

    expected = "DIR/NCALTECH101/Caltech101/<class>/*.bin (tonic's layout)"
    cls = _caltech_objects(tonic.datasets.NCALTECH101)
    classes = _caltech_classes(data_dir, expected)
    return _load_tonic(cls, classes, split, img_size, timesteps, limit, data_dir, expected, _read_caltech,
                       has_split=False)


def _caltech_objects(tonic_class):
    """tonic's NCALTECH101 walks the whole folder; the annotation archive
    extracted next to the recordings has .bin files too: keep Caltech101/."""

    class NCALTECH101(tonic_class):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            keep = [i for i, f in enumerate(self.data) if Path(f).parent.parent.name == "Caltech101"]
            self.data, self.targets = [self.data[i] for i in keep], [self.targets[i] for i in keep]

    return NCALTECH101


def _caltech_classes(data_dir, expected) -> tuple:
    folder = Path(data_dir or "", "NCALTECH101", "Caltech101")
    classes = tuple(sorted(p.name for p in folder.iterdir() if p.is_dir())) if folder.is_dir() else ()
    if data_dir is not None and not classes:
        raise DatasetNotFound(f"NCALTECH101: no class folders in {folder}: expected {expected} (lava-msf never downloads)")
    return classes


def _read_caltech(dataset, j):
    raw, _ = dataset[j]
    w, h, _ = NCALTECH_SENSOR
    raw = raw[(raw["x"] < w) & (raw["y"] < h)]
    return check_events(raw, NCALTECH_SENSOR, dataset.data[j]), NCALTECH_SENSOR
