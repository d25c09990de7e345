"""Mean intersection over union of class masks (numpy), the ADE20K /
mmsegmentation convention: one confusion matrix over all pixels of all
images (not a mean over images), IoU_c = TP / (TP + FP + FN) per class, the
mean over the classes present in the prediction or the ground truth (a class
absent from both has no IoU: None in per_class, left out of the mean).

Masks hold 0 for background and 1 + label for object classes 0..num_classes-1
(lava_msf.data.scenes), so there are num_classes + 1 classes, background
included in the mean."""

import numpy as np

from ..errors import ShapeError


def confusion_matrix(pred_masks, gt_masks, num_classes: int) -> np.ndarray:
    """(C, C) int64 pixel counts, C = num_classes + 1: [ground truth, prediction]."""
    pred, gt = np.asarray(pred_masks), np.asarray(gt_masks)
    if pred.shape != gt.shape:
        raise ShapeError(f"mean_iou: predicted masks {pred.shape} and ground truth {gt.shape} differ in shape")
    count = num_classes + 1
    for name, m in (("predicted", pred), ("ground-truth", gt)):
        if m.size and (m.dtype.kind not in "iub" or m.min() < 0 or m.max() >= count):
            raise ShapeError(f"mean_iou: {name} masks must be integers 0..{num_classes} "
                             f"(0 = background, 1 + label), got {m.dtype} in {m.min()}..{m.max()}")
    index = gt.astype(np.int64).ravel() * count + pred.astype(np.int64).ravel()
    return np.bincount(index, minlength=count * count).reshape(count, count)


def mean_iou(pred_masks, gt_masks, num_classes: int) -> dict:
    """{'miou', 'per_class': num_classes + 1 IoUs (index 0 = background, None
    for a class absent from both), 'pixel_accuracy'}; miou is nan without pixels."""
    cm = confusion_matrix(pred_masks, gt_masks, num_classes)
    tp = np.diag(cm).astype(np.float64)
    union = cm.sum(axis=0) + cm.sum(axis=1) - tp
    present = union > 0
    iou = tp[present] / union[present]
    per_class = [None] * len(tp)
    for c, value in zip(np.flatnonzero(present), iou):
        per_class[c] = float(value)
    return {"miou": float(iou.mean()) if present.any() else float("nan"), "per_class": per_class, "pixel_accuracy": float(tp.sum() / cm.sum()) if cm.sum() else float("nan")}
