"""What the dataset loaders share."""

import numpy as np

from ..errors import ConfigError


class DatasetNotFound(ConfigError):
    """A dataset that is read from disk is not in the given folder, or not in the expected layout."""


def spread(n: int, limit) -> np.ndarray:
    """`limit` indices spread evenly over n samples (all when limit is None):
    a limited subset of a split stored class by class keeps every class."""
    count = n if limit is None else min(limit, n)
    return np.linspace(0, n - 1, count).round().astype(int) if count < n else np.arange(n)
