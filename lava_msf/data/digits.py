"""`digits`: scikit-learn's bundled 8x8 handwritten digits (1797 images, no
download), a fixed stratified 80/20 split (seed 0), bilinearly resized."""

import numpy as np
from scipy import ndimage

SPLIT_SEED = 0
TEST_FRACTION = 0.2


def load_digits_split(split: str, img_size: int):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = digits.images.astype(np.float32) / 16.0
    idx_train, idx_test = train_test_split(
        np.arange(len(images)), test_size=TEST_FRACTION, random_state=SPLIT_SEED,
        stratify=digits.target)
    idx = idx_train if split == "train" else idx_test
    zoom = img_size / images.shape[-1]
    x = np.stack([ndimage.zoom(images[i], zoom, order=1, grid_mode=True, mode="nearest") for i in idx])
    x = np.clip(x, 0.0, 1.0).astype(np.float32)[:, None]
    return x, digits.target[idx].astype(np.int64), 10
