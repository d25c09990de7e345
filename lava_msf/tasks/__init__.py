"""Host-side encoding and decoding of the dense tasks (numpy only): used by
torch training and evaluation and by the Lava run and stream alike, so that
both sides turn the network's one output layer into boxes or masks the same way."""

import numpy as np

from . import detection, segmentation


def readout_values(meta: dict, output: np.ndarray) -> np.ndarray:
    """The integer network's output (N, K, h, w, T) in the torch model's units
    (its forward(): the per-step logits averaged over T)."""
    return np.asarray(output).sum(axis=-1) * meta["readout_scale"] / output.shape[-1]


def decode(task: str, values: np.ndarray, num_classes: int, stride: int, size: tuple):
    """Per-image predictions from (N, K, h, w) head values: detect -> a list of
    (boxes, scores, labels); segment -> masks (N, H, W)."""
    if task == "detect":
        return detection.decode_batch(values, num_classes, stride, size)
    return segmentation.predict_masks(values, size)
