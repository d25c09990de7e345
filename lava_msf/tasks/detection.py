"""CenterNet-style anchor-free detection on one output stride (numpy).

The network's output per cell (y, x) of the stride-s grid: `classes`
center-heatmap logits, then 4 box values: the center's offset from the cell
center (dx, dy, in cells) and log(w / s), log(h / s). On the host: sigmoid,
peaks (3x3 local maxima above a score threshold), top-k, boxes, per-class NMS.
"""

import numpy as np

BOX_CHANNELS = 4
MAX_DETECTIONS = 100
SCORE_THRESHOLD = 0.05
NMS_IOU = 0.5
MAX_LOG_SIZE = 8.0  # exp() bound on the size values


def sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow warnings for large |x|


def encode(boxes: np.ndarray, labels: np.ndarray, classes: int, grid: tuple, stride: int):
    """Training targets of one image: heatmap (classes, h, w) with a Gaussian
    per object, box values (4, h, w) and their mask (h, w), 1 at object centers."""
    h, w = grid
    heat = np.zeros((classes, h, w), np.float32)
    box = np.zeros((BOX_CHANNELS, h, w), np.float32)
    mask = np.zeros((h, w), np.float32)
    ys, xs = np.arange(h)[:, None] + 0.5, np.arange(w)[None, :] + 0.5
    for (x0, y0, x1, y1), label in zip(np.asarray(boxes, np.float64).reshape(-1, 4), labels):
        bw, bh = max(x1 - x0, 1.0) / stride, max(y1 - y0, 1.0) / stride
        cx, cy = (x0 + x1) / 2 / stride, (y0 + y1) / 2 / stride
        j, i = min(int(cx), w - 1), min(int(cy), h - 1)
        sigma = max(min(bw, bh) / 6, 0.5)
        g = np.exp(-((xs - (j + 0.5)) ** 2 + (ys - (i + 0.5)) ** 2) / (2 * sigma ** 2))
        heat[label] = np.maximum(heat[label], g)
        heat[label, i, j] = 1.0
        box[:, i, j] = cx - (j + 0.5), cy - (i + 0.5), np.log(bw), np.log(bh)
        mask[i, j] = 1.0
    return heat, box, mask


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of xyxy boxes a (n, 4) against b (m, 4)."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=-1)
    area = lambda z: np.prod(np.clip(z[:, 2:] - z[:, :2], 0, None), axis=-1)  # noqa: E731
    return inter / np.maximum(area(a)[:, None] + area(b)[None, :] - inter, 1e-12)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float = NMS_IOU) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, best score first."""
    order, keep = np.argsort(-scores, kind="stable"), []
    while order.size:
        keep.append(order[0])
        rest = order[1:]
        order = rest[iou_matrix(boxes[order[:1]], boxes[rest])[0] <= iou]
    return np.asarray(keep, np.int64)


def decode(output: np.ndarray, classes: int, stride: int, image_size: tuple | None = None,
           score_threshold: float = SCORE_THRESHOLD, max_detections: int = MAX_DETECTIONS):
    """One image's output (classes + 4, h, w) -> (boxes (K, 4) xyxy pixels,
    scores (K,), labels (K,) int64), best first."""
    output = np.asarray(output, np.float64)
    heat = sigmoid(output[:classes])
    _, h, w = heat.shape
    padded = np.pad(heat, ((0, 0), (1, 1), (1, 1)), constant_values=-1.0)
    peak = np.max([padded[:, dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)], axis=0)
    label, i, j = np.nonzero((heat >= peak) & (heat >= score_threshold))
    score = heat[label, i, j]
    top = np.argsort(-score, kind="stable")[:max_detections]
    label, i, j, score = label[top], i[top], j[top], score[top]
    dx, dy, lw, lh = output[classes:classes + BOX_CHANNELS, i, j]
    cx, cy = (j + 0.5 + dx) * stride, (i + 0.5 + dy) * stride
    bw, bh = np.exp(np.clip(lw, -MAX_LOG_SIZE, MAX_LOG_SIZE)) * stride, np.exp(np.clip(lh, -MAX_LOG_SIZE,
                                                                                          MAX_LOG_SIZE)) * stride
    boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
    if image_size is not None:
        boxes = np.clip(boxes, 0, [image_size[1], image_size[0]] * 2)
    keep = np.concatenate([np.flatnonzero(label == c)[nms(boxes[label == c], score[label == c])]
                           for c in np.unique(label)]) if label.size else np.zeros(0, np.int64)
    keep = keep[np.argsort(-score[keep], kind="stable")]
    return boxes[keep].astype(np.float32), score[keep].astype(np.float32), label[keep].astype(np.int64)


def decode_batch(outputs: np.ndarray, classes: int, stride: int, image_size: tuple | None = None, **kw):
    """decode() of every image of (N, classes + 4, h, w): a list of (boxes, scores, labels)."""
    return [decode(o, classes, stride, image_size, **kw) for o in outputs]
