"""Training and evaluation of the detection and segmentation heads (SLAYER
surrogate gradients through the whole network, as the backbone's).

Losses: detect: CenterNet's penalty-reduced focal loss on the center
heatmaps + L1 on the box values + a softmax cross-entropy over the class
logits at object centers; segment: per-pixel
cross-entropy on the logits upsampled bilinearly to the input size (the host
decode's upsampling, lava_msf.tasks.segmentation)."""

import time

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..tasks import detection
from ..tasks.evaluate import score

FOCAL_ALPHA, FOCAL_BETA = 2.0, 4.0
BOX_WEIGHT = 1.0
# The focal loss mostly learns "is there an object here": at an object's center
# the other classes' penalty is p^2 (small), so the heatmaps stay alike across
# classes for a long time. A softmax cross-entropy over the class logits at the
# centers trains the digit's identity directly (the decode is unchanged).
CLASS_WEIGHT = 1.0
# Background covers ~90% of a scene's pixels: unweighted CE settles on all-background
BACKGROUND_WEIGHT = 0.2


def focal_loss(logits: torch.Tensor, heat: torch.Tensor) -> torch.Tensor:
    """CenterNet's focal loss, normalized by the number of objects."""
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = heat.eq(1).float()
    loss = -(pos * (1 - p) ** FOCAL_ALPHA * torch.log(p)
             + (1 - pos) * (1 - heat) ** FOCAL_BETA * p ** FOCAL_ALPHA * torch.log(1 - p))
    return loss.sum() / pos.sum().clamp(min=1)


def detection_targets(boxes, labels, classes: int, grid: tuple, stride: int):
    heat, box, mask = zip(*(detection.encode(b, l, classes, grid, stride) for b, l in zip(boxes, labels)))
    return tuple(torch.from_numpy(np.stack(v)) for v in (heat, box, mask))


def detection_loss(out: torch.Tensor, targets) -> torch.Tensor:
    heat, box, mask = targets
    classes = heat.shape[1]
    objects = mask.sum().clamp(min=1)
    l1 = ((out[:, classes:] - box).abs().sum(1) * mask).sum() / objects
    ce = (F.cross_entropy(out[:, :classes], heat.argmax(1), reduction="none") * mask).sum() / objects
    return focal_loss(out[:, :classes], heat) + BOX_WEIGHT * l1 + CLASS_WEIGHT * ce


def segmentation_loss(out: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    weight = torch.ones(out.shape[1])
    weight[0] = BACKGROUND_WEIGHT
    return F.cross_entropy(F.interpolate(out, size=masks.shape[1:], mode="bilinear", align_corners=False), masks,
                           weight=weight)


def batch_loss(model, x: torch.Tensor, data, index: np.ndarray) -> torch.Tensor:
    out = model(x)
    if model.config["task"] == "detect":
        stride = x.shape[2] // out.shape[2]
        return detection_loss(out, detection_targets([data.boxes[i] for i in index], [data.labels[i] for i in index],
                                                     data.num_classes, out.shape[2:], stride))
    return segmentation_loss(out, torch.from_numpy(data.masks[index]))


@torch.no_grad()
def head_values(model, x: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """The eval-mode model's (N, K, h, w) outputs."""
    model.eval()
    return np.concatenate([model(torch.from_numpy(x[i:i + batch_size]).float()).numpy()
                           for i in range(0, len(x), batch_size)])


def evaluate_dense(model, data) -> dict:
    values = head_values(model, data.x)
    return score(model.config["task"], values, data, data.x.shape[2] // values.shape[2])


def one_cycle(progress: float, warmup: float = 0.1) -> float:
    """The learning-rate factor at a fraction `progress` of the run: linear
    warm-up from 1/25, then cosine to 0 (a one-cycle schedule), so a run
    bounded by wall time follows the same curve as one bounded by steps."""
    if progress < warmup:
        return 0.04 + 0.96 * progress / warmup
    return 0.5 * (1 + np.cos(np.pi * min((progress - warmup) / (1 - warmup), 1.0)))


def train_dense(model, train, epochs: int = 1, batch_size: int = 32, lr: float = 2e-3, seed: int = 0,
                max_steps: int | None = None, minutes: float | None = None, progress: bool = True,
                log=None) -> list:
    """AdamW with a one-cycle schedule over `epochs` (or `max_steps`), or over
    a wall-clock budget of `minutes` (then epochs and max_steps are ignored and
    the schedule follows the elapsed time); no augmentation. Returns the
    per-step losses."""
    gen = np.random.default_rng(seed)
    torch.manual_seed(seed)
    per_epoch = max(len(train) // batch_size, 1)
    steps = epochs * per_epoch if max_steps is None else min(epochs * per_epoch, max_steps)
    budget = None if minutes is None else 60.0 * minutes
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    losses, start = [], time.perf_counter()
    bar = tqdm(total=steps if budget is None else None, desc=f"train {model.config['name']}",
               disable=not progress, unit="step")
    while True:
        done = (time.perf_counter() - start) / budget if budget else len(losses) / max(steps, 1)
        if done >= 1:
            break
        if len(losses) % per_epoch == 0:
            order = gen.permutation(len(train))
        b = len(losses) % per_epoch
        index = np.sort(order[b * batch_size:(b + 1) * batch_size])
        for group in optimizer.param_groups:
            group["lr"] = lr * one_cycle(done)
        model.train()
        loss = batch_loss(model, torch.from_numpy(train.x[index]).float(), train, index)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
        bar.update(1)
        bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
        if log is not None and len(losses) % 50 == 0:
            log(len(losses), float(np.mean(losses[-50:])))
    bar.close()
    return losses


def train_dense_run(args) -> dict:
    """`lava-msf train` for a detection or segmentation model (TrainArgs; the
    dataset a scene dataset): train, score the test split, save OUT/last.pt."""
    from pathlib import Path

    from ..data.scenes import load_scenes
    from ..model import create_model
    from .checkpoint import save_checkpoint

    model = create_model(args.model, timesteps=args.timesteps, sdsa=args.sdsa, neuron=args.neuron,
                         img_size=args.img_size)
    size, steps = model.config["img_size"], model.timesteps
    train = load_scenes(args.dataset, "train", size, steps, args.limit_train)
    test = load_scenes(args.dataset, "test", size, steps, args.limit_test)
    if train.num_classes != model.config["num_classes"] or train.x.shape[1] != model.config["in_channels"]:
        model = create_model(args.model, timesteps=args.timesteps, sdsa=args.sdsa, neuron=args.neuron,
                             img_size=args.img_size, num_classes=train.num_classes, in_channels=train.x.shape[1])
    losses = train_dense(model, train, args.epochs, args.batch_size, args.lr, args.seed, progress=args.progress)
    metrics = {"task": model.config["task"], "train_loss": float(np.mean(losses[-50:])), **evaluate_dense(model, test)}
    save_checkpoint(Path(args.out) / "last.pt", model, args.epochs, metrics, {"model": args.model,
                                                                             "dataset": args.dataset})
    return metrics
