"""Per-pixel classes from the segmentation head's stride-s logits (numpy):
bilinear upsampling to the input size (torch's F.interpolate with
align_corners=False, written as two interpolation matrices), then argmax.
Class 0 is the background, 1 + label an object."""

import numpy as np


def interpolation_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights of linear interpolation, half-pixel centers."""
    src = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    lo = np.floor(src).astype(np.int64)
    hi = np.minimum(lo + 1, n_in - 1)
    m = np.zeros((n_out, n_in))
    np.add.at(m, (np.arange(n_out), lo), 1 - (src - lo))
    np.add.at(m, (np.arange(n_out), hi), src - lo)
    return m


def upsample(logits: np.ndarray, size: tuple) -> np.ndarray:
    """(N, K, h, w) -> (N, K, H, W), bilinear."""
    my, mx = interpolation_matrix(logits.shape[2], size[0]), interpolation_matrix(logits.shape[3], size[1])
    return np.einsum("yi,nkij,xj->nkyx", my, np.asarray(logits, np.float64), mx)


def predict_masks(logits: np.ndarray, size: tuple) -> np.ndarray:
    """(N, K, h, w) logits -> (N, H, W) int64 class per pixel."""
    return upsample(logits, size).argmax(axis=1).astype(np.int64)
