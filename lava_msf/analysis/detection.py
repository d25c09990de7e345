"""COCO box mAP with pycocotools' COCOeval (mAP@0.5 and mAP@0.5:0.95, all
areas, at most 100 detections per image: COCO's own definition), from
numpy arrays.

predictions[i]: (boxes (K, 4) xyxy, scores (K,), labels (K,)) or a dict with
those keys; ground_truth[i]: (boxes (M, 4) xyxy, labels (M,)) or a dict.
Boxes are in pixels, continuous coordinates (COCO's IoU: no +1).
Conventions: an image may have no predictions or no objects; classes without
ground-truth objects do not enter the mean (COCO's rule); with no
ground-truth object at all both values are nan."""

import contextlib
import io

import numpy as np

from ..errors import ShapeError


def _as_arrays(item, keys, where: str):
    if isinstance(item, dict):
        missing = [k for k in keys if k not in item]
        if missing:
            raise ShapeError(f"{where}: missing {', '.join(missing)}")
        item = tuple(item[k] for k in keys)
    if len(item) != len(keys):
        raise ShapeError(f"{where}: expected ({', '.join(keys)}), got {len(item)} items")
    try:
        boxes = np.asarray(item[0], dtype=np.float64)
    except (TypeError, ValueError):
        raise ShapeError(f"{where}: boxes are not numbers") from None
    if boxes.size == 0:
        boxes = boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ShapeError(f"{where}: boxes must be (K, 4) xyxy, got shape {boxes.shape}")
    rest = [np.asarray(v).reshape(-1) for v in item[1:]]
    for k, v in zip(keys[1:], rest):
        if len(v) != len(boxes):
            raise ShapeError(f"{where}: {len(boxes)} boxes but {len(v)} {k}")
    if not np.isfinite(boxes).all() or (boxes[:, 2:] < boxes[:, :2]).any():
        raise ShapeError(f"{where}: boxes must be finite xyxy with x1 >= x0 and y1 >= y0")
    labels = rest[-1]
    if labels.size and (labels.dtype.kind not in "iu" or labels.min() < 0):
        raise ShapeError(f"{where}: labels must be integers >= 0, got {labels.dtype} {labels[:3].tolist()}")
    if len(rest) == 2 and not np.isfinite(rest[0].astype(np.float64)).all():
        raise ShapeError(f"{where}: scores must be finite")
    return boxes, *rest


def coco_map(predictions, ground_truth) -> dict:
    """{'map50', 'map', 'per_class_ap50': {label: AP@0.5 of each class with objects}, 'images', 'objects'}."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if len(predictions) != len(ground_truth):
        raise ShapeError(f"coco_map: {len(predictions)} images of predictions but {len(ground_truth)} of ground truth")
    gts = [_as_arrays(g, ("boxes", "labels"), f"ground_truth[{i}]") for i, g in enumerate(ground_truth)]
    dts = [_as_arrays(p, ("boxes", "scores", "labels"), f"predictions[{i}]") for i, p in enumerate(predictions)]
    with_objects = sorted({int(c) for _, labels in gts for c in labels})
    classes = sorted(set(with_objects) | {int(c) for _, _, labels in dts for c in labels})
    objects = sum(len(labels) for _, labels in gts)
    result = {"images": len(gts), "objects": objects}
    if objects == 0:
        return {"map50": float("nan"), "map": float("nan"), "per_class_ap50": {}, **result}

    def xywh(b):
        return [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]

    annotations = []
    for i, (boxes, labels) in enumerate(gts):
        for b, c in zip(boxes, labels):  # ids from 1: COCOeval reads id 0 as "unmatched"
            annotations.append({"id": len(annotations) + 1, "image_id": i, "category_id": int(c), "bbox": xywh(b),
                                "area": float((b[2] - b[0]) * (b[3] - b[1])), "iscrowd": 0})
    detections = [{"image_id": i, "category_id": int(c), "bbox": xywh(b), "score": float(s)}
                  for i, (boxes, scores, labels) in enumerate(dts) for b, s, c in zip(boxes, scores, labels)]
    quiet = contextlib.redirect_stdout(io.StringIO())
    with quiet:
        coco = COCO()
        coco.dataset = {"images": [{"id": i} for i in range(len(gts))], "annotations": annotations,
                        "categories": [{"id": c} for c in classes]}
        coco.createIndex()
        if not detections:
            return {"map50": 0.0, "map": 0.0, "per_class_ap50": {c: 0.0 for c in with_objects}, **result}
        evaluator = COCOeval(coco, coco.loadRes(detections), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    # precision[iou, recall, class, area, maxdets]; -1 where a class has no objects
    precision = evaluator.eval["precision"][0, :, :, 0, -1]
    per_class = {c: float(precision[:, k].mean()) for k, c in enumerate(classes) if precision[:, k].min() > -1}
    return {"map50": float(evaluator.stats[1]), "map": float(evaluator.stats[0]), "per_class_ap50": per_class,
            **result}

