"""The one place that maps (a network's task, its outputs, a dataset) to
predictions and to the task's metric (numpy only): accuracy (classify),
COCO mAP (detect) or mIoU (segment). Used by `eval`, `export`, `check`,
`run`, `report` and `stream` alike, on torch values and integer readouts.

The task is the network's (meta 'task', 'classify' when absent); a task's
datasets: classification ones (lava_msf.data.load_dataset) for classify,
scene datasets (lava_msf.data.load_scenes) for detect and segment."""

import numpy as np

from ..errors import ConfigError, ShapeError
from . import decision_steps, decode, detection, readout_values, summed_values

CLASSIFY, DENSE = "classify", ("detect", "segment")
EXTRA_CHANNELS = {"detect": detection.BOX_CHANNELS, "segment": 1}  # beyond one channel per class
DEFAULT_DATASET = {"classify": "digits", "detect": "digits-scenes", "segment": "digits-scenes"}


def task_of(meta: dict) -> str:
    task = meta.get("task", CLASSIFY)
    if task != CLASSIFY and task not in DENSE:
        raise ConfigError(f"unknown task {str(task)[:40]!r} in the network's meta; lava-msf knows "
                          f"{', '.join((CLASSIFY, *DENSE))}")
    return task


def check_task_dataset(task: str, dataset: str, where: str) -> None:
    """A scene dataset for a dense network, a classification one otherwise."""
    from ..data import SCENES

    if task == CLASSIFY and dataset in SCENES:
        raise ConfigError(f"{where}: a classification network; {dataset} is a scene dataset (boxes and masks, for "
                          f"detection and segmentation networks): give a classification dataset")
    if task != CLASSIFY and dataset not in SCENES:
        raise ConfigError(f"{where}: a {task} network; {dataset} is not a scene dataset: give one of "
                          f"{', '.join(SCENES)}")


def test_split(task: str, dataset: str, where: str, img_size: int, timesteps: int, samples=None, data_dir=None):
    """The test split (first `samples`) of `dataset` for a `task` network (read from `where`)."""
    from ..data import load_dataset, load_scenes

    check_task_dataset(task, dataset, where)
    if task == CLASSIFY:
        return load_dataset(dataset, "test", img_size, timesteps, samples, data_dir)
    if data_dir is not None:
        raise ConfigError(f"--data-dir: {dataset} is generated in memory, not read from a folder")
    return load_scenes(dataset, "test", img_size, timesteps, samples)


def head_classes(task: str, channels: int) -> int:
    """Object classes of a dense head with `channels` output channels."""
    return channels - EXTRA_CHANNELS[task]


def check_head_fits(task: str, channels: int, data, where: str) -> None:
    """The dense head has one channel per class of `data` (plus the box or background channels)."""
    if head_classes(task, channels) != data.num_classes:
        raise ShapeError(f"{where}: the {task} head has {channels} output channels, {head_classes(task, channels)} "
                         f"classes; dataset {data.name} has {data.num_classes}")


def metric(task: str, predictions, truth, num_classes: int) -> dict:
    """detect: coco_map of predictions [(boxes, scores, labels)] against truth
    [(boxes, labels)]: map50, map, per_class_ap50; segment: mean_iou of masks
    (N, H, W) against masks: miou, per_class (index 0 = background), pixel_accuracy."""
    from ..analysis.detection import coco_map
    from ..analysis.segmentation import mean_iou

    if task == "detect":
        return coco_map(predictions, truth)
    return mean_iou(predictions, truth, num_classes)


def truth_of(task: str, data):
    """metric()'s ground truth of a scene split."""
    return list(zip(data.boxes, data.labels)) if task == "detect" else data.masks


def score(task: str, values: np.ndarray, data, stride: int) -> dict:
    """metric() of dense head values (N, K, h, w) in the torch model's units on a scene split."""
    return metric(task, decode(task, values, data.num_classes, stride, data.x.shape[2:4]), truth_of(task, data),
                  data.num_classes)


def predict_outputs(meta: dict, output: np.ndarray, size: tuple):
    """Predictions from integer readouts (N, K, h, w, T): detect -> a list of
    (boxes, scores, labels); segment -> masks (N, H, W); classify -> classes (N,)."""
    from ..reference import predictions

    task = task_of(meta)
    if task == CLASSIFY:
        return predictions(output)
    return decode(task, readout_values(meta, output), head_classes(task, output.shape[1]), meta["output_stride"],
                  size)


def score_outputs(meta: dict, output: np.ndarray, data) -> dict:
    """The metric of integer readouts (N, K, h, w, T) of a network with this
    meta on `data`: {'accuracy'} (classify) or score()'s dict."""
    task = task_of(meta)
    if task == CLASSIFY:
        return {"accuracy": float((predict_outputs(meta, output, None) == data.y).sum() / max(1, len(data)))}
    return score(task, readout_values(meta, output), data, meta["output_stride"])


def window_prediction(meta: dict, summed, steps: int, size: tuple):
    """A stream window's prediction from its output summed over the decision's
    steps (K, h, w) integers (all `steps` of the window, or its last for a
    "last" readout): equal to predict_outputs of the same window run offline."""
    task = task_of(meta)
    summed = np.asarray(summed, dtype=np.int64)[None]
    return decode(task, summed_values(meta, summed, decision_steps(meta.get("config", {}), steps)),
                  head_classes(task, summed.shape[1]), meta["output_stride"], size)[0]


def class_name(classes, label: int) -> str:
    """The name of a class (object classes from 0), or its number when the network names none."""
    return classes[label] if classes and 0 <= label < len(classes) else str(label)


def prediction_summary(task: str, prediction, classes) -> dict:
    """A prediction as plain JSON: detect: boxes (xyxy pixels), scores, labels
    and names; segment: the pixels of each class present (background included)."""
    name = lambda c: class_name(classes, c)  # noqa: E731
    if task == "detect":
        boxes, scores, labels = prediction
        return {"boxes": np.round(boxes, 2).tolist(), "scores": np.round(scores, 4).tolist(),
                "labels": labels.tolist(), "names": [name(int(c)) for c in labels]}
    counts = np.bincount(np.asarray(prediction).ravel())
    return {"pixels": {("background" if c == 0 else name(c - 1)): int(n) for c, n in enumerate(counts) if n}}


def same_prediction(task: str, a, b) -> bool:
    """Whether two predictions are identical (boxes, scores, labels; or masks), bit for bit."""
    if task == "detect":
        return all(np.array_equal(x, y) for x, y in zip(a, b))
    return np.array_equal(a, b)


HEADLINE = {"classify": ("accuracy",), "detect": ("map50", "map"), "segment": ("miou",)}
LABELS = {"accuracy": "accuracy", "map50": "mAP@0.5", "map": "mAP@0.5:0.95", "miou": "mIoU"}


def metric_text(task: str, r: dict, prefix: str = "") -> str:
    """'mAP@0.5 0.9012, mAP@0.5:0.95 0.6012' of the task's headline metrics in r (keys with `prefix`)."""
    return ", ".join(f"{LABELS[k]} {r[prefix + k]:.4f}" for k in HEADLINE[task])


def per_class_text(task: str, r: dict, classes) -> str:
    """Per-class AP@0.5 (detect) or IoU (segment, background first) as 'name value' pairs."""
    name = lambda c: class_name(classes, c)  # noqa: E731
    if task == "detect":
        ap = sorted(r["per_class_ap50"].items(), key=lambda kv: int(kv[0]))
        return ", ".join(f"{name(int(c))} {v:.3f}" for c, v in ap)
    return ", ".join(f"{'background' if c == 0 else name(c - 1)} {'-' if v is None else format(v, '.3f')}"
                     for c, v in enumerate(r["per_class"]))
