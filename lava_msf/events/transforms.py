"""Composable transforms over event arrays (tonic style: callables taking and
returning structured arrays), and binning into per-step frames.

`to_frames` is the one definition of binning: training data, offline
classification and the streaming binner all use it, so a stream cut into the
same bins gives the same frames."""

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from .core import MAX_TIMESTAMP_US, SensorSize, as_sensor_size, check_allocation, check_int


def to_frames(events, sensor_size, bin_us: int, n_bins: int, t0: int = 0, polarities: int = 2) -> np.ndarray:
    """Event counts per bin, polarity channel and pixel: (n_bins, P, H, W)
    int32. Bin k holds events with t0 + k*bin_us <= t < t0 + (k+1)*bin_us;
    events outside the n_bins are ignored. polarities=1 merges ON and OFF."""
    bin_us = check_int(bin_us, "bin_us", 1, MAX_TIMESTAMP_US)
    n_bins = check_int(n_bins, "n_bins", 1)
    t0 = check_int(t0, "t0", -MAX_TIMESTAMP_US, MAX_TIMESTAMP_US)  # t - t0 fits int64
    polarities = check_int(polarities, "polarities", 1, 2)
    w, h = as_sensor_size(tuple(sensor_size)[:2], "to_frames", ConfigError)[:2]
    check_allocation(n_bins * polarities * h * w * 12, f"{n_bins} frames of {polarities}x{h}x{w}")  # int64 + int32
    k = (events["t"] - t0) // bin_us
    keep = (k >= 0) & (k < n_bins)
    p = events["p"][keep].astype(np.int64) if polarities == 2 else 0
    index = ((k[keep] * polarities + p) * h + events["y"][keep]) * w + events["x"][keep]
    counts = np.bincount(index.astype(np.int64), minlength=n_bins * polarities * h * w)
    return counts.reshape(n_bins, polarities, h, w).astype(np.int32)


@dataclass(frozen=True)
class ToFrames:
    """Whole recording -> n_bins frames of equal length (tonic's
    ToFrame(n_time_bins=...)): bin_us = duration / n_bins, from t0 (default:
    the first event). Returns (n_bins, P, H, W)."""

    sensor_size: tuple
    n_bins: int
    duration_us: int | None = None  # default: last - first timestamp + 1
    t0: int | None = None
    polarities: int = 2

    def __post_init__(self):
        check_int(self.n_bins, "n_bins", 1)

    def __call__(self, events):
        t0 = self.t0 if self.t0 is not None else (int(events["t"][0]) if len(events) else 0)
        duration = self.duration_us or (int(events["t"][-1]) - t0 + 1 if len(events) else self.n_bins)
        bin_us = max(1, -(-duration // self.n_bins))
        return to_frames(events, self.sensor_size, bin_us, self.n_bins, t0, self.polarities)


@dataclass(frozen=True)
class Downsample:
    """Integer spatial downsampling: (x, y) -> (x // factor, y // factor)."""

    factor: int

    def __post_init__(self):
        if self.factor < 1:
            raise ConfigError(f"downsampling factor must be at least 1, got {self.factor}")

    def __call__(self, events):
        out = events.copy()
        out["x"] //= self.factor
        out["y"] //= self.factor
        return out

    def sensor(self, sensor_size) -> SensorSize:
        s = SensorSize(*sensor_size)
        return SensorSize(-(-s.width // self.factor), -(-s.height // self.factor), s.polarities)


@dataclass(frozen=True)
class MergePolarities:
    """All events ON (p = 1): one polarity channel."""

    def __call__(self, events):
        out = events.copy()
        out["p"] = 1
        return out


@dataclass(frozen=True)
class CropTime:
    """Keep events with start_us <= t < end_us."""

    start_us: int = 0
    end_us: int | None = None

    def __call__(self, events):
        t = events["t"]
        keep = t >= self.start_us
        if self.end_us is not None:
            keep &= t < self.end_us
        return events[keep]


class Denoise:
    """Background-activity filter: an event is kept when one of its 8
    neighbouring pixels had an event within the `filter_time_us` before it
    (isolated noise events have no such support). Stateful across calls, so a
    stream filtered chunk by chunk equals the whole recording filtered once;
    `reset()` forgets the history."""

    def __init__(self, sensor_size, filter_time_us: int):
        self.width, self.height = as_sensor_size(tuple(sensor_size)[:2], "Denoise", ConfigError)[:2]
        check_allocation((self.width + 2) * (self.height + 2) * 8,
                         f"Denoise's map of a {self.width}x{self.height} sensor")
        self.filter_time_us = check_int(filter_time_us, "filter_time_us", 1, MAX_TIMESTAMP_US)
        self.reset()

    def reset(self) -> None:
        self._last = np.full((self.height + 2, self.width + 2), np.iinfo(np.int64).min // 2, dtype=np.int64)

    def __call__(self, events):
        if not len(events):
            return events
        x, y, t = (events[f].astype(np.int64) for f in ("x", "y", "t"))
        stride = self.width + 2  # a one-pixel border: neighbours never leave the map
        pixel = (y + 1) * stride + x + 1
        # (pixel, time) as one sortable key: the latest event at pixel q before t
        # is the key just below q * span + t
        tmin, span = int(t[0]), int(t[-1] - t[0]) + 2
        keys = np.sort(pixel * span + (t - tmin))
        last_flat = self._last.ravel()
        support = np.full(len(events), np.iinfo(np.int64).min // 2, dtype=np.int64)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                if dx == dy == 0:
                    continue
                q = pixel + dy * stride + dx
                i = np.searchsorted(keys, q * span + (t - tmin), side="left") - 1
                found = keys[np.maximum(i, 0)]
                here = (i >= 0) & (found // span == q)
                support = np.maximum(support, np.where(here, found % span + tmin, last_flat[q]))
        np.maximum.at(last_flat, pixel, t)
        return events[t - support <= self.filter_time_us]


def fit_to_input(events, sensor, size: int):
    """Map a sensor onto a size x size input: integer downsampling by
    min(W, H) // size, then a centred crop. Returns (events, SensorSize)."""
    w, h = int(sensor[0]), int(sensor[1])
    factor = max(1, min(w, h) // check_int(size, "the input size", 1))
    if factor > 1:
        events, (w, h) = Downsample(factor)(events), Downsample(factor).sensor((w, h, 2))[:2]
    if w < size or h < size:
        raise ConfigError(f"a {w}x{h} sensor (after /{factor} downsampling) is smaller than the {size}x{size} input")
    ox, oy = (w - size) // 2, (h - size) // 2
    keep = (events["x"] >= ox) & (events["x"] < ox + size) & (events["y"] >= oy) & (events["y"] < oy + size)
    events = events[keep].copy()
    events["x"] -= ox
    events["y"] -= oy
    return events, SensorSize(size, size, 2)


class Compose:
    """Apply transforms in order."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, events):
        for transform in self.transforms:
            events = transform(events)
        return events


__all__ = ["to_frames", "ToFrames", "Downsample", "MergePolarities", "CropTime", "Denoise",
           "Compose", "fit_to_input"]
