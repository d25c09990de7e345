"""Scene datasets for detection and segmentation, generated deterministically
in memory (no downloads, no files): `load_scenes(name, split, img_size=64,
timesteps=4, limit=None) -> SceneDataset`. They are a sibling of
`load_dataset` (classification), not entries of its registry.

- `digits-scenes`: canvases (N, 1, S, S) float32 in [0, 1] (S = img_size,
  64 by default) holding 1-4 of scikit-learn's 8x8 digits, bilinearly
  upscaled to 12-28 px (x S/64) squares with a 0.8-1.25 aspect jitter, at
  random positions on a black background; the digits' squares never overlap.
  Canvas i depends only on (split, i); train canvases use the train split of
  the `digits` dataset and test canvases its test split, so test digits are
  unseen. 4000 train / 500 test canvases (sized for a detector to reach
  mAP@0.5 >= 0.9 on 2 CPU cores in 30 minutes: an estimate, not measured
  here). 10 classes.
- `dvs-synth-scenes` (lava_msf.data.scenes_events): event recordings of 1-3
  moving shapes on a textured background, binned into spike frames
  (N, 2, S, S, T) uint8; targets at the window's last bin, per-bin targets
  from `SceneDataset.bin_targets(i)`.

Targets: `boxes[i]` (K_i, 4) float32 xyxy in pixels of x, pixel edges (a
box around the pixels of columns c0..c1 is [c0, r0, c1 + 1, r1 + 1]), tight
around the object's mask; `labels[i]` (K_i,) int64 in 0..num_classes-1;
`masks` (N, S, S) int64, 0 = background, 1 + label where an object covers the
pixel. A digit's mask is its ink: upscaled intensity >= INK_THRESHOLD."""

import functools
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError
from .digits import digits_8x8, resize

SPLITS = {"train": 0, "test": 1}
SEED = 19  # of every scene split; the split's id makes train and test disjoint
INK_THRESHOLD = 0.5
DIGITS_SPLIT_SIZES = {"train": 4000, "test": 500}
DIGIT_SIDES = (12, 28)  # px at S = 64, inclusive
DIGIT_OBJECTS = (1, 4)
PLACEMENT_TRIES = 30
MIN_SIZE = 16


@dataclass(frozen=True)
class SceneDataset:
    """One split of a scene dataset (see the module docstring for the layout).
    `info`: class names ("classes") and, for event data, "bin_us",
    "duration_us", "sensor_size", "timesteps" and the scenes ("scenes")
    that give per-bin targets."""

    name: str
    split: str
    x: np.ndarray
    boxes: tuple
    labels: tuple
    masks: np.ndarray
    num_classes: int
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.boxes)

    def head(self, n: int | None) -> "SceneDataset":
        """The first n samples (all when n is None or larger than the split)."""
        if n is None or n >= len(self):
            return self
        info = {**self.info, "scenes": self.info["scenes"][:n]} if "scenes" in self.info else self.info
        return SceneDataset(self.name, self.split, self.x[:n], self.boxes[:n], self.labels[:n], self.masks[:n],
                            self.num_classes, info)

    def bin_targets(self, i: int):
        """Targets of sample i at the end of each of its T time bins: (boxes,
        labels) tuples of T arrays and masks (T, S, S) int64. Event data only;
        bin T-1 gives boxes[i], labels[i], masks[i]."""
        if "scenes" not in self.info:
            raise ConfigError(f"{self.name} is made of still images: it has no per-bin targets")
        bin_us, steps = self.info["bin_us"], self.info["timesteps"]
        return self.info["scenes"][i].targets(bin_us * np.arange(1, steps + 1))


def boxes_of(mask: np.ndarray, ids) -> np.ndarray:
    """(len(ids), 4) float32 xyxy boxes (pixel edges) of the pixels where mask == id."""
    out = np.zeros((len(ids), 4), dtype=np.float32)
    for k, value in enumerate(ids):
        rows, cols = np.nonzero(mask == value)
        out[k] = cols.min(), rows.min(), cols.max() + 1, rows.max() + 1
    return out


def check_size(img_size: int) -> None:
    if not isinstance(img_size, (int, np.integer)) or img_size < MIN_SIZE:
        raise ConfigError(f"scene canvases must be at least {MIN_SIZE} px, got img_size={img_size!r}")


def digits_canvas(split: str, index: int, size: int = 64):
    """Canvas `index` of the digits-scenes split: (image (S, S) float32,
    boxes (K, 4) float32, labels (K,) int64, mask (S, S) int64)."""
    images, digit_labels = digits_8x8(split)
    rng = np.random.default_rng([SEED, SPLITS[split], index])
    canvas = np.zeros((size, size), dtype=np.float32)
    instance = np.zeros((size, size), dtype=np.int64)  # 1 + object number
    taken, labels = [], []
    lo, hi = (max(4, round(s * size / 64)) for s in DIGIT_SIDES)
    for _ in range(rng.integers(DIGIT_OBJECTS[0], DIGIT_OBJECTS[1] + 1)):
        pick = rng.integers(len(images))
        side = rng.integers(lo, hi + 1)
        aspect = np.exp(rng.uniform(np.log(0.8), np.log(1.25)))
        h = min(size, max(4, round(side * np.sqrt(aspect))))
        w = min(size, max(4, round(side / np.sqrt(aspect))))
        for _ in range(PLACEMENT_TRIES):
            y, x = rng.integers(0, size - h + 1), rng.integers(0, size - w + 1)
            if all(x + w <= x0 or x0 + w0 <= x or y + h <= y0 or y0 + h0 <= y for x0, y0, w0, h0 in taken):
                break
        else:
            continue  # no room left for this digit
        digit = resize(images[pick], h, w)
        ink = digit >= INK_THRESHOLD
        if not ink.any():
            continue
        taken.append((x, y, w, h))
        labels.append(digit_labels[pick])
        canvas[y:y + h, x:x + w] = digit
        instance[y:y + h, x:x + w][ink] = len(labels)
    labels = np.asarray(labels, dtype=np.int64)
    boxes = boxes_of(instance, range(1, len(labels) + 1))
    mask = np.where(instance > 0, 1 + np.concatenate([[0], labels])[instance], 0)
    return canvas, boxes, labels, mask


@functools.lru_cache(maxsize=4)
def _digits_scenes(split, img_size, limit):
    count = DIGITS_SPLIT_SIZES[split] if limit is None else min(limit, DIGITS_SPLIT_SIZES[split])
    canvases = [digits_canvas(split, i, img_size) for i in range(count)]
    x = np.stack([c[0] for c in canvases])[:, None]
    masks = np.stack([c[3] for c in canvases])
    return x, tuple(c[1] for c in canvases), tuple(c[2] for c in canvases), masks


def _load_digits_scenes(split, img_size, timesteps, limit):
    x, boxes, labels, masks = _digits_scenes(split, img_size, limit)
    return SceneDataset("digits-scenes", split, x, boxes, labels, masks, 10,
                        {"classes": [str(d) for d in range(10)], "ink_threshold": INK_THRESHOLD})


def _load_event_scenes(split, img_size, timesteps, limit):
    from .scenes_events import load_dvs_synth_scenes

    return load_dvs_synth_scenes(split, img_size, timesteps, limit)


SCENES = {"digits-scenes": _load_digits_scenes, "dvs-synth-scenes": _load_event_scenes}


def load_scenes(name: str, split: str, img_size: int = 64, timesteps: int = 4,
                limit: int | None = None) -> SceneDataset:
    """A split of a scene dataset; `timesteps` bins event scenes (a still
    image is the same at every step), `limit` keeps the first samples.
    Splits are cached in memory: do not modify the arrays in place."""
    if name not in SCENES:
        raise ConfigError(f"unknown scene dataset {name!r}; choose one of {', '.join(SCENES)}")
    check_split(split, limit)
    if not isinstance(timesteps, (int, np.integer)) or timesteps < 1:
        raise ConfigError(f"timesteps must be an integer of at least 1, got {timesteps!r}")
    check_size(img_size)
    return SCENES[name](split, int(img_size), int(timesteps), limit)


def check_split(split: str, limit) -> None:
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if limit is not None and (not isinstance(limit, (int, np.integer)) or limit < 1):
        raise ConfigError(f"limit must be an integer of at least 1, got {limit!r}")
