"""Host-side encoding and decoding of the dense tasks (numpy only): used by
torch training and evaluation and by the Lava run and stream alike, so that
both sides turn the network's one output layer into boxes or masks the same way."""

import numpy as np

from . import detection, segmentation


def readout_values(meta: dict, output: np.ndarray) -> np.ndarray:
    """The integer network's output (N, K, h, w, T) in the torch model's units
    (its forward(): the per-step logits averaged over T)."""
    return summed_values(meta, np.asarray(output).sum(axis=-1), output.shape[-1])


def summed_values(meta: dict, summed: np.ndarray, steps: int) -> np.ndarray:
    """readout_values of the output already summed over its `steps` steps (a
    stream's window): the same numbers, bit for bit, from the same integers."""
    return summed * meta["readout_scale"] / steps


def decode(task: str, values: np.ndarray, num_classes: int, stride: int, size: tuple):
    """Per-image predictions from (N, K, h, w) head values: detect -> a list of
    (boxes, scores, labels); segment -> masks (N, H, W)."""
    if task == "detect":
        return detection.decode_batch(values, num_classes, stride, size)
    return segmentation.predict_masks(values, size)
