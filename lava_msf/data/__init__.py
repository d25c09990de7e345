"""Datasets as plain numpy arrays (no torch): images (N, C, H, W) in [0, 1]
(image folders and CIFAR: decoded when indexed) or frames (N, C, H, W, T), and
integer labels. Everything but digits and dvs-synth is read from a local
folder (--data-dir) and never downloaded."""

from .registry import DATASETS, Dataset, load_dataset

__all__ = ["DATASETS", "Dataset", "load_dataset"]
