"""`digits`: scikit-learn's bundled 8x8 handwritten digits (1797 images, no
download), a fixed stratified 80/20 split (seed 0), bilinearly resized."""

import functools

import numpy as np
from scipy import ndimage

SPLIT_SEED = 0
TEST_FRACTION = 0.2


@functools.lru_cache(maxsize=2)
def digits_8x8(split: str):
    """The split's 8x8 digits in [0, 1] (n, 8, 8) float32 and labels (n,) int64;
    digits-scenes draws on the same split, so its test canvases hold unseen digits."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = digits.images.astype(np.float32) / 16.0
    idx_train, idx_test = train_test_split(
        np.arange(len(images)), test_size=TEST_FRACTION, random_state=SPLIT_SEED,
        stratify=digits.target)
    idx = idx_train if split == "train" else idx_test
    return images[idx], digits.target[idx].astype(np.int64)


def resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of a 2-D image, clipped to [0, 1]."""
    zoom = (height / image.shape[0], width / image.shape[1])
    return np.clip(ndimage.zoom(image, zoom, order=1, grid_mode=True, mode="nearest"), 0.0, 1.0)


def load_digits_split(split: str, img_size: int):
    images, labels = digits_8x8(split)
    x = np.stack([resize(image, img_size, img_size) for image in images]).astype(np.float32)[:, None]
    return x, labels, 10
