"""`dvs-synth`: an event-camera simulator and a DVS-Gesture-like dataset.

A scene (a bright shape on a dim, lightly textured background) is rendered at
`sim_rate_hz`; each pixel emits an event whenever its log intensity moves one
contrast threshold away from the level at its last event (per-pixel threshold
mismatch, ON and OFF), at most one per frame and never within its refractory
period; background noise adds Poisson events of random polarity. Ten
gestures: swipes in four directions, circles both ways, zoom in and out, a
horizontal wave and a flicker in place; shape, size, contrast, path and speed
vary per recording. Recording i of a split depends only on (seed, split, i)."""

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from .core import SensorSize, make_events

CLASSES = ("swipe_right", "swipe_left", "swipe_up", "swipe_down", "circle_cw", "circle_ccw",
           "zoom_in", "zoom_out", "wave", "flicker")
SPLIT_IDS = {"train": 0, "test": 1}
SPLIT_SIZES = {"train": 100, "test": 30}  # recordings per class
DURATION_US = 100_000
SHAPES = ("disk", "square", "ring", "diamond")


@dataclass(frozen=True)
class SensorModel:
    """DVS pixel parameters (log-intensity units, microseconds, Hz)."""

    contrast_threshold: float = 0.2
    threshold_mismatch: float = 0.03  # std of the per-pixel threshold
    refractory_us: int = 500
    noise_rate_hz: float = 5.0  # background events per pixel and second
    sim_rate_hz: float = 2000.0


def shape_mask(kind: str, dx, dy, radius):
    """Soft-edged coverage in [0, 1] of a shape centred at the origin (also
    the objects of dvs-synth-scenes, lava_msf.data.scenes_events)."""
    if kind == "disk":
        dist = np.hypot(dx, dy) - radius
    elif kind == "square":
        dist = np.maximum(np.abs(dx), np.abs(dy)) - radius * 0.85
    elif kind == "ring":
        dist = np.abs(np.hypot(dx, dy) - radius * 0.8) - radius * 0.35
    else:  # diamond
        dist = np.abs(dx) + np.abs(dy) - radius * 1.2
    return np.clip(0.5 - dist, 0.0, 1.0)  # a one-pixel anti-aliased edge


def _trajectory(label: int, tau, rng, size: int):
    """Centre (x, y), scale and brightness factor over normalised time tau."""
    name = CLASSES[label]
    cx, cy = size * (0.5 + rng.uniform(-0.08, 0.08, 2))
    ones = np.ones_like(tau)
    scale, bright = ones, ones
    if name.startswith("swipe"):
        lo, hi = size * rng.uniform(0.12, 0.25), size * rng.uniform(0.75, 0.88)
        along = lo + (hi - lo) * tau
        across = size * rng.uniform(0.3, 0.7) * ones
        x, y = {"swipe_right": (along, across), "swipe_left": (size - along, across),
                "swipe_down": (across, along), "swipe_up": (across, size - along)}[name]
    elif name.startswith("circle"):
        radius, phase = size * rng.uniform(0.2, 0.28), rng.uniform(0, 2 * np.pi)
        turn = rng.uniform(0.8, 1.1) * 2 * np.pi * tau * (1 if name == "circle_cw" else -1)
        # image y points down: increasing angle is clockwise on screen
        x, y = cx + radius * np.cos(phase + turn), cy + radius * np.sin(phase + turn)
    elif name.startswith("zoom"):
        lo, hi = rng.uniform(0.35, 0.55), rng.uniform(1.4, 1.8)
        grow = lo + (hi - lo) * tau
        scale = grow if name == "zoom_in" else lo + hi - grow
        x, y = cx * ones, cy * ones
    elif name == "wave":
        x = cx + size * rng.uniform(0.15, 0.25) * np.sin(2 * np.pi * rng.uniform(1.5, 2.5) * tau + rng.uniform(0, 0.5))
        y = cy * ones
    else:  # flicker
        x, y = cx * ones, cy * ones
        bright = 0.55 + 0.45 * np.cos(2 * np.pi * rng.uniform(2.0, 3.0) * tau + rng.uniform(0, np.pi))
    return x, y, scale, bright


def render(label: int, rng, size: int, times_us, duration_us: int) -> np.ndarray:
    """Intensity frames (len(times), size, size) in (0, 1]."""
    tau = np.asarray(times_us, dtype=np.float64) / duration_us
    x, y, scale, bright = (np.broadcast_to(a, tau.shape) for a in _trajectory(label, tau, rng, size))
    kind = SHAPES[rng.integers(len(SHAPES))]
    radius = size * rng.uniform(0.1, 0.16)
    fg, bg = rng.uniform(0.6, 1.0), rng.uniform(0.08, 0.2)
    texture = 1.0 + 0.15 * rng.standard_normal((size, size))
    gy, gx = np.mgrid[0:size, 0:size] + 0.5
    col = (slice(None), None, None)
    cover = shape_mask(kind, gx - x[col], gy - y[col], radius * scale[col])
    frames = (bg + (fg * bright[col] - bg) * cover) * texture
    return np.clip(frames, 1e-3, None)


def simulate(frames, times_us, rng, sensor: SensorModel = SensorModel()) -> np.ndarray:
    """Intensity frames (n, H, W) at times_us -> events (EVENT_DTYPE), sorted by time."""
    n, h, w = frames.shape
    log = np.log(frames)
    ref = log[0].copy()
    threshold = np.clip(sensor.contrast_threshold + sensor.threshold_mismatch * rng.standard_normal((h, w)),
                        0.05, None)
    last = np.full((h, w), -(1 << 40), dtype=np.int64)
    xs, ys, ts, ps = [], [], [], []
    for i in range(1, n):
        t0, t1 = int(times_us[i - 1]), int(times_us[i])
        delta = log[i] - ref
        fire = (np.abs(delta) >= threshold) & (t1 - last >= sensor.refractory_us)
        yy, xx = np.nonzero(fire)
        d = delta[yy, xx]
        # crossing time by linear interpolation of the log intensity over the frame interval
        prev = log[i - 1][yy, xx] - ref[yy, xx]
        frac = np.clip((np.sign(d) * threshold[yy, xx] - prev) / np.where(d == prev, 1.0, d - prev), 0.0, 1.0)
        t = t0 + np.rint(frac * (t1 - t0)).astype(np.int64)
        ref[yy, xx] += np.sign(d) * threshold[yy, xx]
        last[yy, xx] = t
        xs.append(xx), ys.append(yy), ts.append(t), ps.append(d > 0)
    duration = int(times_us[-1]) - int(times_us[0])
    count = rng.poisson(sensor.noise_rate_hz * duration * 1e-6 * h * w)
    xs.append(rng.integers(0, w, count)), ys.append(rng.integers(0, h, count))
    ts.append(rng.integers(int(times_us[0]), int(times_us[-1]), count)), ps.append(rng.integers(0, 2, count))
    events = make_events(*(np.concatenate(a) for a in (xs, ys, ts, ps)))
    return events[np.argsort(events["t"], kind="stable")]


def recording(label: int, seed: int, split: str, index: int, size: int = 32,
              duration_us: int = DURATION_US, sensor: SensorModel = SensorModel()) -> np.ndarray:
    """One dvs-synth recording: events in [0, duration_us)."""
    if not 0 <= label < len(CLASSES):
        raise ConfigError(f"dvs-synth label must be in 0..{len(CLASSES) - 1}, got {label}")
    if size < 8:
        raise ConfigError(f"dvs-synth sensor size must be at least 8, got {size}")
    rng = np.random.default_rng([seed, SPLIT_IDS[split], index, label])
    steps = int(round(duration_us * sensor.sim_rate_hz * 1e-6))
    times = np.linspace(0, duration_us - 1, steps + 1).astype(np.int64)
    return simulate(render(label, rng, size, times, duration_us), times, rng, sensor)


def split_recordings(split: str, size: int = 32, seed: int = 0, limit: int | None = None,
                     duration_us: int = DURATION_US):
    """Yield (events, label) for a split; classes interleave (label = i % 10)."""
    if split not in SPLIT_IDS:
        raise ConfigError(f"unknown split {split!r}; choose one of {', '.join(SPLIT_IDS)}")
    total = SPLIT_SIZES[split] * len(CLASSES)
    for i in range(total if limit is None else min(limit, total)):
        label = i % len(CLASSES)
        yield recording(label, seed, split, i, size, duration_us), label


def sensor_size(size: int) -> SensorSize:
    return SensorSize(size, size, 2)


__all__ = ["CLASSES", "DURATION_US", "SensorModel", "recording", "render", "simulate",
           "split_recordings", "sensor_size"]
