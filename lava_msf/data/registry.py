"""Named datasets."""

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError


@dataclass(frozen=True)
class Dataset:
    """One split: inputs x (N, C, H, W) float32 or (N, C, H, W, T), labels y (N,) int64."""

    name: str
    split: str
    x: np.ndarray
    y: np.ndarray
    num_classes: int

    def __len__(self) -> int:
        return len(self.y)

    @property
    def channels(self) -> int:
        return self.x.shape[1]

    def head(self, n: int | None) -> "Dataset":
        """The first n samples (all when n is None or larger than the split)."""
        if n is None or n >= len(self):
            return self
        return Dataset(self.name, self.split, self.x[:n], self.y[:n], self.num_classes)


def _digits(split, img_size):
    from .digits import load_digits_split

    return load_digits_split(split, img_size)


DATASETS = {"digits": _digits}
SPLITS = ("train", "test")


def load_dataset(name: str, split: str, img_size: int) -> Dataset:
    if name not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; choose one of {', '.join(sorted(DATASETS))}")
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    x, y, num_classes = DATASETS[name](split, img_size)
    return Dataset(name, split, x, y, num_classes)
