"""Datasets as plain numpy arrays (no torch): images (N, C, H, W) in [0, 1]
(image folders and CIFAR: decoded when indexed) or frames (N, C, H, W, T), and
integer labels. Everything but digits and dvs-synth is read from a local
folder (--data-dir) and never downloaded. Scene datasets for detection and
segmentation (digits-scenes, dvs-synth-scenes: boxes and masks) come from
`load_scenes` (lava_msf.data.scenes)."""

from .registry import DATASETS, Dataset, load_dataset
from .scenes import SCENES, SceneDataset, load_scenes

__all__ = ["DATASETS", "Dataset", "SCENES", "SceneDataset", "load_dataset", "load_scenes"]
