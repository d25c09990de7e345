import numpy as np
import pytest

from lava_msf.data import load_dataset
from lava_msf.errors import ConfigError


def test_digits_split_is_fixed_stratified_and_resized():
    train = load_dataset("digits", "train", 32)
    test = load_dataset("digits", "test", 32)
    assert len(train) + len(test) == 1797 and len(test) == 360
    assert train.x.shape[1:] == (1, 32, 32) and train.x.dtype == np.float32
    assert 0.0 <= train.x.min() and train.x.max() <= 1.0
    assert set(np.bincount(test.y)) <= {35, 36, 37}  # stratified
    again = load_dataset("digits", "test", 32)
    np.testing.assert_array_equal(again.x, test.x)
    assert load_dataset("digits", "test", 16).x.shape[1:] == (1, 16, 16)


def test_unknown_dataset_and_split():
    with pytest.raises(ConfigError, match="unknown dataset 'mnist'"):
        load_dataset("mnist", "train", 32)
    with pytest.raises(ConfigError, match="unknown split"):
        load_dataset("digits", "val", 32)
