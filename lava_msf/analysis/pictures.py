"""Pictures of dense predictions (PIL): boxes with class names and scores,
and class masks as a colour overlay, drawn over an input frame upscaled
`scale` times (nearest); PNG files, and an animated GIF for a stream. Each
file is written atomically.

Frames: a still image (H, W), (1, H, W) or (3, H, W) in [0, 1], or spike
frames (2, H, W) or (2, H, W, T) (channel 1 = ON events, red; 0 = OFF,
blue; counts over T). Boxes are xyxy pixel edges of the frame (as in
lava_msf.data.scenes); masks hold 0 = background, 1 + label."""

import numpy as np

from ..atomic import atomic_path
from ..errors import ShapeError

MASK_ALPHA = 0.45
DRAW_SCORE = 0.3  # boxes drawn from this score (mAP counts down to the decoder's 0.05: a picture shows the confident)
GT_COLOUR = (255, 255, 255)


def colour(label: int) -> tuple:
    """RGB of a class (matplotlib's tab10, cycled)."""
    from matplotlib import colormaps

    r, g, b, _ = colormaps["tab10"](int(label) % 10)
    return round(255 * r), round(255 * g), round(255 * b)


def frame_rgb(frame) -> np.ndarray:
    """An input frame (see the module docstring) -> (H, W, 3) uint8."""
    x = np.asarray(frame, dtype=np.float64)
    if x.ndim == 4 and x.shape[0] == 2:
        x = x.sum(axis=-1)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.shape[0] not in (1, 2, 3):
        raise ShapeError(f"picture: a frame must be (H, W), (1|2|3, H, W) or (2, H, W, T), got {np.shape(frame)}")
    if x.shape[0] == 2:  # events: normalise the counts, ON red, OFF blue
        x = x / max(x.max(), 1.0)
        x = np.stack([x[1], 0.25 * (x[0] + x[1]), x[0]])
    x = np.repeat(np.clip(x, 0, 1), 3 // x.shape[0], axis=0)
    return (255 * x.transpose(1, 2, 0)).round().astype(np.uint8)


def draw_scene(frame, boxes=None, labels=None, scores=None, mask=None, gt_boxes=None, class_names=None,
               caption: str | None = None, scale: int = 4):
    """A PIL image of the frame (H*scale x W*scale): the mask as a colour
    overlay, ground-truth boxes in white, predicted boxes in their class's
    colour with "name score", and a caption in the top-left corner."""
    from PIL import Image, ImageDraw, ImageFont

    rgb = frame_rgb(frame)
    h, w = rgb.shape[:2]
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != (h, w):
            raise ShapeError(f"picture: mask {mask.shape} does not match the frame ({h}, {w})")
        lut = np.array([(0, 0, 0)] + [colour(c) for c in range(max(int(mask.max()), 1))], dtype=np.float64)
        on = mask > 0
        rgb = rgb.astype(np.float64)
        rgb[on] = (1 - MASK_ALPHA) * rgb[on] + MASK_ALPHA * lut[mask[on]]
        rgb = rgb.round().astype(np.uint8)
    image = Image.fromarray(rgb).resize((w * scale, h * scale), Image.NEAREST)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=max(8, 3 * scale))

    def rect(box, fill):
        x0, y0, x1, y1 = (float(v) * scale for v in box)
        draw.rectangle([x0, y0, max(x0, x1 - 1), max(y0, y1 - 1)], outline=fill, width=max(1, scale // 2))
        return x0, y0

    for box in [] if gt_boxes is None else np.asarray(gt_boxes).reshape(-1, 4):
        rect(box, GT_COLOUR)
    boxes = np.zeros((0, 4)) if boxes is None else np.asarray(boxes).reshape(-1, 4)
    labels = np.zeros(len(boxes), dtype=int) if labels is None else np.asarray(labels).reshape(-1)
    scores = None if scores is None else np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(labels) != len(boxes) or (scores is not None and len(scores) != len(boxes)):
        raise ShapeError(f"picture: {len(boxes)} boxes but {len(labels)} labels"
                         + ("" if scores is None else f" and {len(scores)} scores"))
    for k, (box, label) in enumerate(zip(boxes, labels)):
        x0, y0 = rect(box, colour(label))
        known = class_names is not None and 0 <= label < len(class_names)
        text = class_names[label] if known else str(int(label))
        if scores is not None:
            text += f" {scores[k]:.2f}"
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        th = bottom - top + 2
        ty = y0 - th if y0 >= th else y0  # above the box where there is room
        draw.rectangle([x0, ty, x0 + right - left + 2, ty + th], fill=colour(label))
        draw.text((x0 + 1 - left, ty + 1 - top), text, fill=(0, 0, 0), font=font)
    if caption:
        draw.text((2, 2), caption, fill=(255, 255, 0), font=font)
    return image


def write_png(path, image) -> str:
    """A PIL image (from draw_scene, or several side by side from side_by_side) to a PNG."""
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")
    return str(path)


def side_by_side(*images):
    """PIL images next to each other, 4 px apart (e.g. prediction | ground truth)."""
    from PIL import Image

    out = Image.new("RGB", (sum(i.width for i in images) + 4 * (len(images) - 1), max(i.height for i in images)))
    x = 0
    for image in images:
        out.paste(image, (x, 0))
        x += image.width + 4
    return out


def write_gif(path, images, frame_ms: int = 100) -> str:
    """PIL images (e.g. draw_scene of each window of a stream) to an animated,
    looping GIF. Consecutive identical images become one frame (GIF
    encoders merge them); a caption with the time keeps one per window."""
    images = list(images)
    if not images:
        raise ShapeError("picture: a GIF needs at least one image")
    with atomic_path(path) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=int(frame_ms), loop=0)
    return str(path)


def prediction_picture(frame, task: str, prediction, class_names=None, caption: str | None = None, gt=None,
                       min_score: float = DRAW_SCORE):
    """draw_scene of one prediction: detect (boxes, scores, labels) as boxes
    scoring at least `min_score`, the best drawn last (on top); segment a mask
    (H, W) as the overlay; `gt`: the ground truth's (boxes, labels), in white."""
    gt_boxes = None if gt is None else gt[0]
    if task == "detect":
        boxes, scores, labels = prediction
        if scores is not None:  # a prediction, not the ground truth
            scores = np.asarray(scores)
            keep = np.flatnonzero(scores >= min_score)
            keep = keep[np.argsort(scores[keep], kind="stable")]
            boxes, scores, labels = np.asarray(boxes)[keep], scores[keep], np.asarray(labels)[keep]
        return draw_scene(frame, boxes, labels, scores, gt_boxes=gt_boxes, class_names=class_names, caption=caption)
    return draw_scene(frame, mask=prediction, gt_boxes=gt_boxes, class_names=class_names, caption=caption)


def scene_pictures(out_dir, data, task: str, predictions, count: int) -> list:
    """PNGs of the first `count` samples of a scene split (`eval --pictures`):
    the prediction beside the ground truth; returns the paths."""
    from pathlib import Path

    names, paths = data.info.get("classes"), []
    for i in range(min(count, len(data))):
        truth = (data.boxes[i], None, data.labels[i]) if task == "detect" else data.masks[i]
        images = [prediction_picture(data.x[i], task, p, names, caption)
                  for p, caption in ((predictions[i], "prediction"), (truth, "ground truth"))]
        paths.append(write_png(Path(out_dir) / f"{data.name}-{i:04d}.png", side_by_side(*images)))
    return paths
