"""Host-side encoding and decoding of the dense tasks (numpy only): used by
torch training and evaluation and by the Lava run and stream alike, so that
both sides turn the network's one output layer into boxes or masks the same way."""

import numpy as np

from . import detection, segmentation


READOUTS = ("mean", "last")


def decides_on_last(config: dict) -> bool:
    """Whether the decision is the last step's output ("last": moving objects,
    whose targets are the window's end) rather than the mean over T ("mean")."""
    return config.get("readout", "mean") == "last"


def decision_steps(config: dict, steps: int) -> int:
    """How many of the last steps the decision averages."""
    return 1 if decides_on_last(config) else steps


def readout_values(meta: dict, output: np.ndarray) -> np.ndarray:
    """The integer network's output (N, K, h, w, T) in the torch model's units
    (its forward(): the per-step logits averaged over the decision's steps)."""
    k = decision_steps(meta.get("config", {}), output.shape[-1])
    return summed_values(meta, np.asarray(output)[..., -k:].sum(axis=-1), k)


def summed_values(meta: dict, summed: np.ndarray, steps: int) -> np.ndarray:
    """readout_values of the output already summed over the decision's `steps`
    steps (a stream's window): the same numbers, bit for bit, from the same integers."""
    return summed * meta["readout_scale"] / steps


def decode(task: str, values: np.ndarray, num_classes: int, stride: int, size: tuple):
    """Per-image predictions from (N, K, h, w) head values: detect -> a list of
    (boxes, scores, labels); segment -> masks (N, H, W)."""
    if task == "detect":
        return detection.decode_batch(values, num_classes, stride, size)
    return segmentation.predict_masks(values, size)
