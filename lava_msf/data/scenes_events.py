"""`dvs-synth-scenes`: 1-3 shapes (disk, square, ring, diamond: the dvs-synth
shapes, one class each) moving in straight lines at 10-30 % of the sensor
width per 100 ms, bouncing off the borders, over a static textured
background; lava_msf.events.synth turns the intensity into events (its DVS
pixel model, here at 1 kHz). A recording lasts 100 ms and is binned into T
frames of 100 ms // T. Shapes are drawn in a fixed depth order; at a time t
an object's mask is where its coverage is >= 0.5 and no later object's is,
its box is tight around that mask, and an object with fewer than MIN_VISIBLE
pixels in view has no target. The starting positions and velocities are
redrawn (up to PLACEMENT_TRIES times) until the objects' boxes never overlap
during the recording. Targets of a bin are those at the bin's end.

Recording i of a split depends only on (split, i). 1200 train / 300 test.
`split_stream` puts a split's recordings back to back (the stream whose
windows are the dataset's samples, for the streamed == offline check);
`continuous_stream` is one long scene for demos."""

import functools
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from ..errors import ConfigError
from ..events.core import SensorSize
from ..events.synth import DURATION_US, SHAPES, SensorModel, shape_mask, simulate
from .events import spike_frames
from .scenes import SEED, SPLITS, SceneDataset, boxes_of, check_size, check_split

SPLIT_SIZES = {"train": 1200, "test": 300}
SENSOR = SensorModel(sim_rate_hz=1000.0)
OBJECTS = (1, 3)
RADIUS = (0.08, 0.14)  # x sensor width
SPEED = (0.1, 0.3)  # sensor widths per 100 ms
REACH = {"disk": 1.0, "square": 0.85, "ring": 1.15, "diamond": 1.2}  # half extent / radius (see shape_mask)
MIN_VISIBLE = 4
PLACEMENT_TRIES = 30
MAX_STREAM_US = 10_000_000  # continuous_stream: the simulator takes all frames at once


def margins(kinds, radius) -> np.ndarray:
    """(K,) how far each centre stays from the border: the shape's reach plus its anti-aliased edge."""
    return np.array([REACH[k] for k in kinds]) * radius + 0.5


@dataclass(frozen=True)
class MovingScene:
    """Objects k (shape kinds[k], radius, brightness fg) whose centres move
    from start[k] at velocity[k] px/us, reflected at the borders, over a
    background bg * texture."""

    size: int
    kinds: tuple
    radius: np.ndarray
    start: np.ndarray  # (K, 2) x, y
    velocity: np.ndarray  # (K, 2) px / us
    fg: np.ndarray
    bg: float
    texture: np.ndarray  # (S, S)

    @property
    def labels(self) -> np.ndarray:
        return np.array([SHAPES.index(k) for k in self.kinds], dtype=np.int64)

    def margins(self) -> np.ndarray:
        return margins(self.kinds, self.radius)

    def centres(self, times_us) -> np.ndarray:
        """(n, K, 2) centres at times_us."""
        t = np.asarray(times_us, dtype=np.float64)[:, None, None]
        lo = self.margins()[None, :, None]
        span = self.size - 2 * lo
        free = np.mod(self.start[None] + self.velocity[None] * t - lo, 2 * span)
        return lo + np.where(free > span, 2 * span - free, free)

    def coverage(self, times_us) -> np.ndarray:
        """(n, K, S, S) float32 coverage of each object."""
        c = self.centres(times_us).astype(np.float32)
        g = np.arange(self.size, dtype=np.float32) + 0.5
        out = np.empty((len(c), len(self.kinds), self.size, self.size), dtype=np.float32)
        for k, kind in enumerate(self.kinds):
            dx = g[None, None, :] - c[:, k, 0, None, None]
            dy = g[None, :, None] - c[:, k, 1, None, None]
            out[:, k] = shape_mask(kind, dx, dy, np.float32(self.radius[k]))
        return out

    def frames(self, times_us) -> np.ndarray:
        """(n, S, S) float32 intensity in (0, 1]."""
        cover = self.coverage(times_us)
        image = np.broadcast_to(self.bg * self.texture, cover.shape[:1] + cover.shape[2:]).astype(np.float32)
        for k in range(len(self.kinds)):
            image = image * (1 - cover[:, k]) + np.float32(self.fg[k]) * cover[:, k]
        return np.clip(image, 1e-3, None)

    def targets(self, times_us):
        """At each time: (boxes, labels) tuples of arrays and masks (n, S, S) int64."""
        cover = self.coverage(times_us) >= 0.5
        instance = np.zeros((len(cover), self.size, self.size), dtype=np.int64)
        for k in range(len(self.kinds)):
            instance[cover[:, k]] = k + 1  # later objects in front
        labels, boxes = self.labels, []
        masks = np.zeros_like(instance)
        kept = []
        for i in range(len(instance)):
            counts = np.bincount(instance[i].ravel(), minlength=len(self.kinds) + 1)[1:]
            ids = np.flatnonzero(counts >= MIN_VISIBLE) + 1
            boxes.append(boxes_of(instance[i], ids))
            kept.append(labels[ids - 1])
            visible = np.isin(instance[i], ids)
            masks[i][visible] = 1 + labels[instance[i][visible] - 1]
        return tuple(boxes), tuple(kept), masks

    def overlap(self, times_us) -> bool:
        """Whether two objects' boxes overlap at any of the times."""
        c, m = self.centres(times_us), self.margins()
        for a in range(len(m)):
            for b in range(a + 1, len(m)):
                apart = np.abs(c[:, a] - c[:, b]) >= m[a] + m[b]
                if not apart.any(axis=1).all():
                    return True
        return False


def make_scene(rng, size: int, duration_us: int) -> MovingScene:
    """Random objects, redrawn until their boxes stay apart for duration_us (or PLACEMENT_TRIES)."""
    count = rng.integers(OBJECTS[0], OBJECTS[1] + 1)
    kinds = tuple(SHAPES[k] for k in rng.integers(len(SHAPES), size=count))
    radius = size * rng.uniform(*RADIUS, count)
    fg, bg = rng.uniform(0.6, 1.0, count), rng.uniform(0.08, 0.2)
    texture = np.clip(1.0 + 0.15 * rng.standard_normal((size, size)), 0.5, 1.5).astype(np.float32)
    check = np.linspace(0, duration_us, 101)
    margin = margins(kinds, radius)
    for _ in range(PLACEMENT_TRIES):
        start = rng.uniform(margin[:, None], size - margin[:, None], (count, 2))
        angle = rng.uniform(0, 2 * np.pi, count)
        speed = size * rng.uniform(*SPEED, count) / DURATION_US
        velocity = speed[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)
        scene = MovingScene(size, kinds, radius, start, velocity, fg, bg, texture)
        if not scene.overlap(check):
            break
    return scene


def scene_events(scene: MovingScene, rng, duration_us: int) -> np.ndarray:
    """The scene's events in [0, duration_us), sorted by time."""
    steps = int(round(duration_us * SENSOR.sim_rate_hz * 1e-6))
    times = np.linspace(0, duration_us - 1, steps + 1).astype(np.int64)
    frames = np.concatenate([scene.frames(chunk) for chunk in np.array_split(times, -(-len(times) // 1000))])
    return simulate(frames, times, rng, SENSOR)


def recording(split: str, index: int, size: int = 64):
    """Recording `index` of a split: (events in [0, 100 ms), MovingScene)."""
    rng = np.random.default_rng([SEED, SPLITS[split], index, 2])
    scene = make_scene(rng, size, DURATION_US)
    return scene_events(scene, rng, DURATION_US), scene


def _count(split, limit):
    return SPLIT_SIZES[split] if limit is None else min(limit, SPLIT_SIZES[split])


@functools.lru_cache(maxsize=4)
def _frames(split, size, timesteps, limit):
    bin_us = DURATION_US // timesteps
    x = np.zeros((_count(split, limit), 2, size, size, timesteps), dtype=np.uint8)
    scenes = []
    for i in tqdm(range(len(x)), desc=f"dvs-synth-scenes {split}", leave=False, unit="rec", disable=None):
        events, scene = recording(split, i, size)
        x[i] = spike_frames(events, size, bin_us, timesteps)
        scenes.append(scene)
    return x, tuple(scenes)


def bin_length(img_size, timesteps) -> int:
    """The bin length of T bins per 100 ms recording, once the sizes are checked."""
    check_size(img_size)
    if not isinstance(timesteps, (int, np.integer)) or not 1 <= timesteps <= DURATION_US:
        raise ConfigError(f"timesteps must be an integer in 1..{DURATION_US}, got {timesteps!r}")
    return DURATION_US // int(timesteps)


def load_dvs_synth_scenes(split, img_size, timesteps, limit):
    bin_us = bin_length(img_size, timesteps)
    x, scenes = _frames(split, img_size, timesteps, limit)
    boxes, labels, masks = [], [], []
    for scene in scenes:
        b, lab, m = scene.targets([timesteps * bin_us])
        boxes.append(b[0]), labels.append(lab[0]), masks.append(m[0])
    info = {"classes": list(SHAPES), "bin_us": bin_us, "duration_us": DURATION_US, "timesteps": timesteps,
            "sensor_size": list(SensorSize(img_size, img_size, 2)), "scenes": scenes}
    return SceneDataset("dvs-synth-scenes", split, x, tuple(boxes), tuple(labels), np.stack(masks), len(SHAPES),
                        info)


@dataclass(frozen=True)
class SceneStream:
    """A long recording: events, and the targets at the end of each bin
    (boxes, labels: tuples of n_bins arrays; masks (n_bins, S, S) int64).
    Window k is bins k*timesteps .. (k+1)*timesteps - 1, starting at t0 = 0
    (stream it with t0=0 to keep the windows aligned)."""

    events: np.ndarray
    sensor_size: SensorSize
    bin_us: int
    timesteps: int
    boxes: tuple
    labels: tuple
    masks: np.ndarray

    @property
    def windows(self) -> int:
        return len(self.boxes) // self.timesteps

    def window_targets(self, k: int):
        """Window k's targets, those of its last bin: (boxes, labels, mask)."""
        last = (k + 1) * self.timesteps - 1
        return self.boxes[last], self.labels[last], self.masks[last]

    def window_frames(self, k: int) -> np.ndarray:
        """Window k binned offline: spike frames (2, S, S, T) uint8."""
        return spike_frames(self.events, self.sensor_size.width, self.bin_us, self.timesteps,
                            k * self.timesteps * self.bin_us)


def split_stream(split: str, img_size: int = 64, timesteps: int = 4, limit: int | None = None) -> SceneStream:
    """The split's recordings back to back, each cut to its T bins: window i
    binned offline equals sample i of load_scenes('dvs-synth-scenes', ...)."""
    check_split(split, limit)
    bin_us = bin_length(img_size, timesteps)
    window = timesteps * bin_us
    ends = bin_us * np.arange(1, timesteps + 1)
    events, boxes, labels, masks = [], [], [], []
    for i in tqdm(range(_count(split, limit)), desc=f"dvs-synth-scenes {split} stream", leave=False, unit="rec",
                  disable=None):
        ev, scene = recording(split, i, img_size)
        ev = ev[ev["t"] < window].copy()
        ev["t"] += i * window
        events.append(ev)
        b, lab, m = scene.targets(ends)
        boxes += b
        labels += lab
        masks.append(m)
    return SceneStream(np.concatenate(events), SensorSize(img_size, img_size, 2), bin_us, timesteps, tuple(boxes),
                       tuple(labels), np.concatenate(masks))


def continuous_stream(windows: int, img_size: int = 64, timesteps: int = 4, seed: int = 0) -> SceneStream:
    """One scene of `windows` windows of T bins (100 ms // T each), its
    objects moving and bouncing throughout (they may cross each other)."""
    bin_us = bin_length(img_size, timesteps)
    if not isinstance(windows, (int, np.integer)) or not 1 <= windows * timesteps * bin_us <= MAX_STREAM_US:
        raise ConfigError(f"continuous_stream: windows must be 1..{MAX_STREAM_US // DURATION_US} "
                          f"({MAX_STREAM_US // 1_000_000} s at most), got {windows!r}")
    duration = windows * timesteps * bin_us
    rng = np.random.default_rng([SEED, 2, seed])
    scene = make_scene(rng, img_size, duration)
    events = scene_events(scene, rng, duration)
    boxes, labels, masks = scene.targets(bin_us * np.arange(1, windows * timesteps + 1))
    return SceneStream(events, SensorSize(img_size, img_size, 2), bin_us, timesteps, boxes, labels, masks)
