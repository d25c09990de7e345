"""Datasets as plain numpy arrays (no torch): images (N, C, H, W) in [0, 1] or
frames (N, C, H, W, T), and integer labels."""

from .registry import DATASETS, Dataset, load_dataset

__all__ = ["DATASETS", "Dataset", "load_dataset"]
