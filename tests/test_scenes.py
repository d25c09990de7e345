import numpy as np
import pytest

from lava_msf.data.digits import digits_8x8
from lava_msf.data.scenes import INK_THRESHOLD, digits_canvas, load_scenes
from lava_msf.data.scenes_events import continuous_stream, recording, split_stream
from lava_msf.errors import ConfigError


def _check_targets(ds, size):
    assert ds.masks.shape == (len(ds), size, size) and ds.masks.dtype == np.int64
    for boxes, labels, mask in zip(ds.boxes, ds.labels, ds.masks):
        assert boxes.dtype == np.float32 and labels.dtype == np.int64 and boxes.shape == (len(labels), 4)
        assert len(labels) >= 1 and ((0 <= labels) & (labels < ds.num_classes)).all()
        for (x0, y0, x1, y1), label in zip(boxes.astype(int), labels):
            inside = mask[y0:y1, x0:x1] == 1 + label
            # tight: the box's first and last rows and columns each hold a pixel of the object
            assert inside[0].any() and inside[-1].any() and inside[:, 0].any() and inside[:, -1].any()
        assert set(np.unique(mask)) <= {0} | set((1 + labels).tolist())


def test_digits_scenes_layout_and_targets():
    ds = load_scenes("digits-scenes", "train", 64, limit=40)
    assert ds.x.shape == (40, 1, 64, 64) and ds.x.dtype == np.float32 and ds.num_classes == 10
    assert 0.0 <= ds.x.min() and ds.x.max() <= 1.0
    _check_targets(ds, 64)
    counts = [len(labels) for labels in ds.labels]
    assert min(counts) >= 1 and max(counts) <= 4 and len(set(counts)) > 1
    # the mask is the ink: pixels >= the threshold inside the boxes, background elsewhere
    np.testing.assert_array_equal(ds.masks > 0, ds.x[:, 0] >= INK_THRESHOLD)
    assert len(ds.head(5)) == 5 and ds.head(5).masks.shape[0] == 5 and ds.head(None) is ds


def test_digits_scenes_are_deterministic_and_splits_disjoint():
    a, b = digits_canvas("test", 3), digits_canvas("test", 3)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(digits_canvas("train", 3)[0], a[0])
    assert len(digits_8x8("train")[0]) + len(digits_8x8("test")[0]) == 1797  # each canvas split has its digits
    small = load_scenes("digits-scenes", "test", 32, limit=3)
    assert small.x.shape == (3, 1, 32, 32)
    _check_targets(small, 32)


def test_dvs_synth_scenes_frames_and_bin_targets():
    ds = load_scenes("dvs-synth-scenes", "test", 32, timesteps=4, limit=4)
    assert ds.x.shape == (4, 2, 32, 32, 4) and ds.x.dtype == np.uint8 and set(np.unique(ds.x)) <= {0, 1}
    assert ds.num_classes == 4 and ds.info["classes"] == ["disk", "square", "ring", "diamond"]
    _check_targets(ds, 32)
    boxes, labels, masks = ds.bin_targets(0)
    assert len(boxes) == 4 and masks.shape == (4, 32, 32)
    np.testing.assert_array_equal(boxes[-1], ds.boxes[0])  # the sample's targets are its last bin's
    np.testing.assert_array_equal(masks[-1], ds.masks[0])
    assert not np.array_equal(boxes[0], boxes[-1])  # the objects move
    np.testing.assert_array_equal(ds.head(2).bin_targets(1)[2], ds.bin_targets(1)[2])
    # events concentrate on the objects: more spikes per pixel where they are than elsewhere
    on = ds.x.sum(axis=(1, 4))
    assert on[ds.masks > 0].mean() > 1.5 * on[ds.masks == 0].mean()
    again = load_scenes("dvs-synth-scenes", "test", 32, timesteps=2, limit=2)
    assert again.x.shape == (2, 2, 32, 32, 2) and again.info["bin_us"] == 50_000
    with pytest.raises(ConfigError, match="still images"):
        load_scenes("digits-scenes", "test", limit=1).bin_targets(0)


def test_event_recordings_are_deterministic_per_split():
    a, scene = recording("test", 1, 32)
    b, _ = recording("test", 1, 32)
    np.testing.assert_array_equal(a, b)
    assert len(a) > 100 and not np.array_equal(recording("train", 1, 32)[1].start, scene.start)


def test_split_stream_windows_equal_the_dataset():
    ds = load_scenes("dvs-synth-scenes", "train", 32, timesteps=4, limit=3)
    stream = split_stream("train", 32, 4, limit=3)
    assert stream.windows == 3 and stream.masks.shape == (12, 32, 32)
    for k in range(3):
        np.testing.assert_array_equal(stream.window_frames(k), ds.x[k])
        boxes, labels, mask = stream.window_targets(k)
        np.testing.assert_array_equal(mask, ds.masks[k])
        np.testing.assert_array_equal(boxes, ds.boxes[k])
        np.testing.assert_array_equal(labels, ds.labels[k])
    assert np.all(np.diff(stream.events["t"]) >= 0)


def test_continuous_stream_moves_smoothly():
    stream = continuous_stream(3, 32, timesteps=2)
    assert stream.windows == 3 and len(stream.labels) == 6 and stream.events["t"].max() < 300_000
    centres = [(b[:, :2] + b[:, 2:]) / 2 for b in stream.boxes]
    steps = [np.abs(a - b).max() for a, b in zip(centres, centres[1:]) if a.shape == b.shape]
    assert steps and max(steps) < 8  # 50 ms bins: at most 0.4 x 32 px / 2 plus box jitter


def test_scene_option_errors():
    with pytest.raises(ConfigError, match="unknown scene dataset"):
        load_scenes("coco", "train")
    with pytest.raises(ConfigError, match="unknown split"):
        load_scenes("digits-scenes", "val")
    with pytest.raises(ConfigError, match="limit"):
        load_scenes("digits-scenes", "test", limit=0)
    with pytest.raises(ConfigError, match="at least 16"):
        load_scenes("dvs-synth-scenes", "test", 8)
    with pytest.raises(ConfigError, match="timesteps"):
        load_scenes("dvs-synth-scenes", "test", 32, timesteps=0)
    with pytest.raises(ConfigError, match="unknown split"):
        split_stream("val")
    with pytest.raises(ConfigError, match="windows must be 1..100"):
        continuous_stream(0)
    with pytest.raises(ConfigError, match="windows must be 1..100"):
        continuous_stream(101)
