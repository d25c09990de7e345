"""Named datasets."""

from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError


@dataclass(frozen=True)
class Dataset:
    """One split: inputs x (N, C, H, W) float32 images in [0, 1] (for image
    folders and CIFAR a LazyImages, decoded when indexed) or (N, C, H, W, T)
    spike frames, labels y (N,) int64. `info`: class names and, for event
    data, the bin length in microseconds and the sensor size."""

    name: str
    split: str
    x: np.ndarray
    y: np.ndarray
    num_classes: int
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.y)

    @property
    def channels(self) -> int:
        return self.x.shape[1]

    def head(self, n: int | None) -> "Dataset":
        """The first n samples (all when n is None or larger than the split)."""
        if n is None or n >= len(self):
            return self
        return Dataset(self.name, self.split, self.x[:n], self.y[:n], self.num_classes, self.info)


def _digits(split, img_size, timesteps, limit, data_dir):
    from .digits import load_digits_split

    x, y, classes = load_digits_split(split, img_size)
    return x[:limit], y[:limit], classes, {"classes": [str(d) for d in range(classes)]}


def _events(loader):
    def load(split, img_size, timesteps, limit, data_dir):
        from . import events

        return getattr(events, loader)(split, img_size, timesteps, limit, data_dir)
    return load


def _imagefolder(split, img_size, timesteps, limit, data_dir):
    from .images import load_imagefolder

    return load_imagefolder(split, img_size, timesteps, limit, data_dir)


def _cifar(name):
    def load(split, img_size, timesteps, limit, data_dir):
        from .images import load_cifar

        return load_cifar(name, split, img_size, limit, data_dir)
    return load


DATASETS = {"digits": _digits, "dvs-synth": _events("load_dvs_synth"), "nmnist": _events("load_nmnist"),
            "dvsgesture": _events("load_dvsgesture"), "cifar10dvs": _events("load_cifar10dvs"),
            "ncaltech101": _events("load_ncaltech101"), "imagefolder": _imagefolder,
            "cifar10": _cifar("cifar10"), "cifar100": _cifar("cifar100")}
SPLITS = ("train", "test")


def load_dataset(name: str, split: str, img_size: int, timesteps: int = 4, limit: int | None = None,
                 data_dir=None) -> Dataset:
    """A split at the model's input size; event datasets are binned into
    `timesteps` frames. `limit`: at most that many samples, all classes
    represented (digits is shuffled, dvs-synth interleaves classes, the
    datasets read from disk are subsampled evenly)."""
    if name not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; choose one of {', '.join(sorted(DATASETS))}")
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if limit is not None and limit < 1:
        raise ConfigError(f"limit must be at least 1, got {limit}")
    x, y, num_classes, info = DATASETS[name](split, img_size, timesteps, limit, data_dir)
    return Dataset(name, split, x, y, num_classes, info)
