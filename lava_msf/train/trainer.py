"""Training and evaluation of Meta-SpikeFormer models.

Single process by default; under `torchrun` (WORLD_SIZE > 1) data-parallel with
DistributedDataParallel (gloo on CPU, nccl on CUDA). Rank 0 writes the JSONL
log and the checkpoints. Shuffling and augmentation are seeded per epoch, so a
resumed run continues exactly where the saved epoch ended.
"""

import json
import math
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from ..atomic import write_text
from ..data import Dataset, load_dataset
from ..errors import CheckpointError, ConfigError, ShapeError
from ..model import create_model, model_config
from ..model.layers import Head
from ..model.neuron import set_neuron_mode, spiking_neurons
from .args import TrainArgs
from .checkpoint import load_model, read_checkpoint, save_checkpoint
from .recipe import BatchRecipe, as_images, check_recipe, make_ema

LOG_NAME = "log.jsonl"
LAST = "last.pt"
BEST = "best.pt"


def check_input(model, data: Dataset) -> None:
    """Fail early, with names, when a dataset does not fit a model."""
    if model.config.get("task", "classify") != "classify":
        raise ConfigError(f"model {model.config['name']} is a {model.config['task']} model; classification "
                          f"training and eval do not apply (lava-msf train runs lava_msf.train.dense for it)")
    expected = model.input_shape()
    got = tuple(data.x.shape[1:4])
    if got != expected:
        raise ShapeError(f"model {model.config['name']} expects input {expected} (C, H, W); "
                         f"dataset {data.name} gives {got}")
    if data.num_classes > model.config["num_classes"]:
        raise ShapeError(f"model {model.config['name']} has {model.config['num_classes']} classes; "
                         f"dataset {data.name} has {data.num_classes}")


def _augment(x: torch.Tensor, max_shift: int, gen: torch.Generator) -> torch.Tensor:
    """Random translation of (N, C, H, W[, T]) inputs by up to max_shift pixels, zero fill."""
    if max_shift <= 0:
        return x
    x, undo = as_images(x)  # frames: shift every step alike
    n, h, w = x.shape[0], x.shape[2], x.shape[3]
    pad = torch.nn.functional.pad(x, (max_shift,) * 4)
    dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
    return undo(torch.stack([pad[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)]).contiguous())


def _lr_factor(step: int, steps_per_epoch: int, args: TrainArgs) -> float:
    """Linear warm-up, then cosine decay to zero over the remaining epochs."""
    warm = args.warmup_epochs * steps_per_epoch
    total = args.epochs * steps_per_epoch
    if step < warm:
        return (step + 1) / warm
    return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))


@torch.no_grad()
def evaluate(model, data: Dataset, batch_size: int = 64, device="cpu") -> dict:
    """Accuracy, mean loss and mean firing rate of all spiking neurons on a split."""
    model.eval()
    neurons = spiking_neurons(model)
    correct, loss_sum, rate_sum, batches = 0, 0.0, 0.0, 0
    for i in range(0, len(data), batch_size):
        x = torch.from_numpy(data.x[i:i + batch_size]).float().to(device)
        y = torch.from_numpy(data.y[i:i + batch_size]).to(device)
        logits = model(x)
        loss_sum += float(torch.nn.functional.cross_entropy(logits, y, reduction="sum"))
        correct += int((logits.argmax(1) == y).sum())
        rate_sum += float(np.mean([n.last_rate for n in neurons]))
        batches += 1
    n = max(1, len(data))
    return {"accuracy": correct / n, "loss": loss_sum / n, "firing_rate": rate_sum / max(1, batches),
            "samples": len(data)}


def calibrate_batchnorm(model, x: np.ndarray, batch_size: int = 64):
    """Set the BatchNorm statistics of an untrained model from inputs `x` (a
    cumulative average), so that it spikes as a trained one would, roughly;
    for tests and benchmarks that need realistic activity without training.
    Returns the model in eval mode."""
    model.train()
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.momentum = None
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            model(torch.from_numpy(x[i:i + batch_size]).float())
    return model.eval()


def evaluate_checkpoint(path, dataset: str, neuron: str | None = None, data_dir=None) -> dict:
    """Evaluate a checkpoint on a dataset's test split (optionally in another neuron mode)."""
    model, state = load_model(path, neuron=neuron)
    data = load_dataset(dataset, "test", model.config["img_size"], model.timesteps, data_dir=data_dir)
    check_input(model, data)
    result = evaluate(model, data)
    result.update(model=model.config["name"], dataset=dataset, checkpoint=str(path),
                  epoch=state["epoch"], neuron=model.config["neuron"])
    return result


def _dist_setup():
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    rank = dist.get_rank() if dist.is_initialized() else 0
    return rank, world


def _average_buffers(model, world: int) -> None:
    """Average BatchNorm running statistics across ranks (buffers are not broadcast)."""
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            for buf in (m.running_mean, m.running_var):
                dist.all_reduce(buf)
                buf /= world


def _read_log(path: Path, upto_epoch: int) -> list[str]:
    if not path.exists():
        return []
    lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    return [ln for ln in lines if json.loads(ln).get("epoch", 0) <= upto_epoch]


def train(args: TrainArgs) -> dict:
    """Train; returns the final epoch's metrics. Checkpoints go to args.out."""
    rank, world = _dist_setup()
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    out = Path(args.out)
    if args.epochs < 1 or args.batch_size < 1:
        raise ConfigError("epochs and batch size must be at least 1")
    if not args.lr > 0:
        raise ConfigError(f"learning rate must be positive, got {args.lr}")
    if any(n is not None and n < 1 for n in (args.limit_train, args.limit_test)):
        raise ConfigError("--limit-train and --limit-test must be at least 1")
    check_recipe(args)

    start_epoch, best_acc, resumed = 1, -1.0, None
    if args.resume:
        if not (out / LAST).is_file():
            raise CheckpointError(f"--resume: no checkpoint {out / LAST} to resume from")
        resumed = read_checkpoint(out / LAST)
        model, _ = load_model(out / LAST)
        if "train_state_dict" in resumed:  # with EMA, state_dict holds the average
            model.load_state_dict(resumed["train_state_dict"])
        start_epoch = resumed["epoch"] + 1
        best_acc = resumed["metrics"].get("best_accuracy", -1.0)
    else:
        torch.manual_seed(args.seed)
        model = _init_model(args) if args.init else None
    config = model_config(args.model, img_size=args.img_size, timesteps=args.timesteps) if model is None \
        else model.config
    train_set, test_set = (load_dataset(args.dataset, split, config["img_size"], config["timesteps"], limit,
                                        args.data_dir)
                           for split, limit in (("train", args.limit_train), ("test", args.limit_test)))
    if model is not None and resumed is None:
        _fit_head(model, train_set.num_classes)
    if model is None:  # classes and input channels come from the data (e.g. 2 polarities)
        model = create_model(args.model, timesteps=args.timesteps, sdsa=args.sdsa, neuron=args.neuron,
                             img_size=args.img_size, num_classes=train_set.num_classes,
                             in_channels=train_set.channels)
    check_input(model, train_set)
    recipe = BatchRecipe(args, model.config["num_classes"], device)
    if recipe.teacher is not None:
        check_input(recipe.teacher, train_set)

    model.to(device)
    ema = make_ema(model, args.ema, None if resumed is None or "train_state_dict" not in resumed
                   else resumed["state_dict"])
    evaluated = model if ema is None else ema.module  # what is tested and saved as the result
    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None,
            broadcast_buffers=False)
    per_rank = math.ceil(len(train_set) / world)
    steps_per_epoch = math.ceil(per_rank / args.batch_size)
    optimizer, scheduler = _optimizer(model, args, steps_per_epoch)
    if resumed is not None:
        optimizer.load_state_dict(resumed["optimizer"])
        scheduler.load_state_dict(resumed["scheduler"])
        # The schedule is in epochs: steps per epoch change with the world size
        # (a run saved under torchrun may resume in one process, or the reverse).
        scheduler.last_epoch = (start_epoch - 1) * steps_per_epoch
        for group, base in zip(optimizer.param_groups, scheduler.base_lrs):
            group["lr"] = base * _lr_factor(scheduler.last_epoch, steps_per_epoch, args)

    log_path = out / LOG_NAME
    log_lines = _read_log(log_path, start_epoch - 1) if resumed is not None else []
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    metrics = resumed["metrics"] if resumed is not None else {}
    for epoch in range(start_epoch, args.epochs + 1):
        gen = torch.Generator().manual_seed(args.seed * 100003 + epoch)
        torch.manual_seed(args.seed * 100003 + epoch + 7919 * rank)  # torchvision's transforms
        order = torch.randperm(len(train_set), generator=gen)
        # Every rank gets the same number of batches (DDP steps in lockstep).
        order = torch.cat([order, order[:per_rank * world - len(order)]])[rank::world]
        t0 = time.time()
        totals = _train_epoch(net, model, ema, recipe, train_set, order, gen, optimizer, scheduler, args, device,
                              desc=f"epoch {epoch}/{args.epochs}", show=args.progress and rank == 0)
        if world > 1:
            dist.all_reduce(totals)
            _average_buffers(model, world)
            if ema is not None:
                _average_buffers(ema.module, world)
        elapsed = time.time() - t0
        test = evaluate(evaluated, test_set, device=device)
        best_acc = max(best_acc, test["accuracy"])
        metrics = {
            "epoch": epoch,
            "train_loss": float(totals[0] / totals[2]),
            "train_accuracy": float(totals[1] / totals[2]),
            "train_firing_rate": float(totals[3] / totals[2]),
            "test_loss": test["loss"],
            "test_accuracy": test["accuracy"],
            "test_firing_rate": test["firing_rate"],
            "best_accuracy": best_acc,
            "lr": scheduler.get_last_lr()[0],
            "epoch_seconds": elapsed,
            "samples_per_second": float(totals[2]) / elapsed,
            "world_size": world,
        }
        if rank == 0:
            # Log first: on resume, lines past the checkpoint's epoch are dropped.
            log_lines.append(json.dumps(metrics))
            write_text(log_path, "\n".join(log_lines) + "\n")
            if test["accuracy"] >= best_acc:
                save_checkpoint(out / BEST, evaluated, epoch, metrics, asdict(args))
            save_checkpoint(out / LAST, evaluated, epoch, metrics, asdict(args), optimizer, scheduler,
                            train_model=None if ema is None else model)
            tqdm.write(f"epoch {epoch}: loss {metrics['train_loss']:.4f} "
                       f"train acc {metrics['train_accuracy']:.4f} test acc {test['accuracy']:.4f} "
                       f"rate {test['firing_rate']:.4f} ({metrics['samples_per_second']:.1f} samples/s)",
                       file=sys.stderr)
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return metrics


def _init_model(args: TrainArgs):
    """The model and weights of checkpoint args.init, with this run's T, and
    neuron mode and input size where given (e.g. float -> deploy)."""
    model, _ = load_model(args.init, neuron=args.neuron)
    if args.sdsa is not None and args.sdsa != model.config["sdsa"]:
        raise ConfigError(f"--init {args.init}: its SDSA variant is {model.config['sdsa']!r}; "
                          f"--sdsa {args.sdsa} would not fit its weights")
    model.config["timesteps"] = args.timesteps
    if args.img_size is not None:
        model.config["img_size"] = args.img_size
    model.config.update(model_config(model.config["name"], **{k: v for k, v in model.config.items()
                                                               if k != "name"}))
    return model


def _fit_head(model, num_classes: int) -> None:
    """A new classifier for a dataset with other classes (the usual fine-tuning)."""
    if model.config["num_classes"] == num_classes:
        return
    model.head = Head(model.head.fc.weight.shape[1], num_classes)
    model.config["num_classes"] = num_classes
    set_neuron_mode(model, model.config["neuron"])


def _optimizer(model, args: TrainArgs, steps_per_epoch: int):
    """AdamW (no weight decay on biases and BN/neuron vectors) with a per-step schedule."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [{"params": [p for p in params if p.dim() > 1], "weight_decay": args.weight_decay},
         {"params": [p for p in params if p.dim() <= 1], "weight_decay": 0.0}], lr=args.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: _lr_factor(step, steps_per_epoch, args))
    return optimizer, scheduler


def _train_epoch(net, model, ema, recipe, data: Dataset, order, gen, optimizer, scheduler, args, device, desc,
                 show):
    """One pass over `order`; returns float64 [loss sum, correct, samples, firing-rate sum]."""
    model.train()
    neurons = spiking_neurons(model)
    totals = torch.zeros(4, dtype=torch.float64)
    bar = tqdm(range(0, len(order), args.batch_size), desc=desc, disable=not show, leave=False,
               unit="batch")
    for i in bar:
        idx = order[i:i + args.batch_size].numpy()
        x = _augment(torch.from_numpy(data.x[idx]).float(), args.max_shift, gen).to(device)
        y = torch.from_numpy(data.y[idx]).to(device)
        x, target = recipe.augment(x, y)
        logits = net(x)
        loss = recipe.loss(logits, target, x)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        if ema is not None:
            ema.update_parameters(model)
        rate = float(np.mean([n.last_rate for n in neurons]))
        totals += torch.tensor([float(loss) * len(idx), int((logits.argmax(1) == y).sum()), len(idx),
                                rate * len(idx)], dtype=torch.float64)
        bar.set_postfix(loss=f"{totals[0] / totals[2]:.3f}", acc=f"{totals[1] / totals[2]:.3f}")
    return totals
