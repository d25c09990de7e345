"""`train`, `eval` and `pipeline`: the torch side (torch is loaded by the handlers)."""

import time

from ..errors import ConfigError
from .options import (DIRECTORY, add_command, add_dataset_options, add_json, check_device, device, integer,
                      positive_float, positive_int, print_result, progress_of, real)


RECIPE_OPTIONS = ("weight_decay", "warmup_epochs", "label_smoothing", "max_shift", "mixup", "cutmix",
                  "randaugment", "ema", "teacher", "distill", "distill_alpha", "distill_tau")


def _add_train_options(s, d) -> None:
    s.add_argument("--model", default=d.model)
    add_dataset_options(s, d.dataset)
    s.add_argument("--out", default=d.out, help="folder for checkpoints and the log (default %(default)s)")
    s.add_argument("--timesteps", type=positive_int, default=d.timesteps)
    s.add_argument("--epochs", type=positive_int, default=d.epochs)
    s.add_argument("--batch-size", type=positive_int, default=d.batch_size)
    s.add_argument("--lr", type=positive_float, default=d.lr)
    s.add_argument("--seed", type=integer(0, (1 << 32) - 1), default=d.seed)
    s.add_argument("--sdsa", default=None, help="v2 (default), v1_kv or v1_qk")
    s.add_argument("--neuron", default=None, help="deploy (default) or float")
    s.add_argument("--img-size", type=positive_int, default=None)
    s.add_argument("--limit-train", type=positive_int, default=None, help="use the first N training samples")
    s.add_argument("--limit-test", type=positive_int, default=None, help="use the first N test samples")
    s.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    s.add_argument("--init", default=None, help="fine-tune: start from this checkpoint's model and weights "
                   "(e.g. from import-sdt); --neuron/--timesteps/--sdsa override, a new head if classes differ")
    s.add_argument("--device", type=device, default=None, help="cpu, cuda or cuda:N (default: cuda when present)")
    # the paper's recipe (docs/training.md)
    s.add_argument("--weight-decay", type=real(0.0), default=d.weight_decay)
    s.add_argument("--warmup-epochs", type=integer(0), default=d.warmup_epochs)
    s.add_argument("--label-smoothing", type=real(0.0, 1.0, open_maximum=True), default=d.label_smoothing)
    s.add_argument("--max-shift", type=integer(0, 1024), default=d.max_shift, help="random translation in pixels")
    s.add_argument("--mixup", type=real(0.0), default=d.mixup, help="mixup alpha (paper: 0.8; 0 = off)")
    s.add_argument("--cutmix", type=real(0.0), default=d.cutmix, help="CutMix alpha (paper: 1.0; 0 = off)")
    s.add_argument("--randaugment", type=integer(0, 30), default=d.randaugment,
                   help="RandAugment magnitude, 2 ops (paper: 9; images only; 0 = off)")
    s.add_argument("--ema", type=real(0.0, 1.0, open_maximum=True), default=d.ema,
                   help="EMA decay of the weights, e.g. 0.9999 (0 = off)")
    s.add_argument("--teacher", default=d.teacher, help="distil from this checkpoint (the paper's 55M_kd)")
    s.add_argument("--distill", choices=("soft", "hard"), default=d.distill, help="soft (default) or hard")
    s.add_argument("--distill-alpha", type=real(0.0, 1.0), default=d.distill_alpha)
    s.add_argument("--distill-tau", type=positive_float, default=d.distill_tau)
    s.add_argument("--no-progress", action="store_true")
    add_json(s)


def _train_args(ns):
    from ..train import TrainArgs

    check_device(ns.device)
    return TrainArgs(model=ns.model, dataset=ns.dataset, out=ns.out, timesteps=ns.timesteps,
                     epochs=ns.epochs, batch_size=ns.batch_size, lr=ns.lr, seed=ns.seed,
                     sdsa=ns.sdsa, neuron=ns.neuron, img_size=ns.img_size, data_dir=ns.data_dir,
                     limit_train=ns.limit_train, limit_test=ns.limit_test, resume=ns.resume, init=ns.init,
                     device=ns.device, progress=progress_of(ns),
                     **{name: getattr(ns, name) for name in RECIPE_OPTIONS})


def handle_train(ns) -> int:
    """Train a model; checkpoints (best.pt, last.pt) and the log go to --out."""
    from ..model import model_config
    from ..train import train

    t0 = time.time()
    if model_config(ns.model)["task"] != "classify":
        from ..train.dense import train_dense_run

        metrics = train_dense_run(_train_args(ns))
        metrics.update(wall_seconds=time.time() - t0, out=ns.out)
        score = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if k in ("map50", "map", "miou"))
        print_result(metrics, ns.json, f"trained {ns.model} on {ns.dataset}: test {score}; checkpoint in {ns.out}")
        return 0
    metrics = train(_train_args(ns))
    metrics["wall_seconds"] = time.time() - t0
    metrics["out"] = ns.out
    print_result(metrics, ns.json,
                 f"trained {ns.model} on {ns.dataset}: test accuracy {metrics['test_accuracy']:.4f} "
                 f"(best {metrics['best_accuracy']:.4f}) after epoch {metrics['epoch']}; "
                 f"checkpoints in {ns.out}")
    return 0


def handle_eval(ns) -> int:
    """Evaluate a checkpoint on a test split: accuracy, or mAP / mIoU of a
    detection or segmentation model (with pictures of its predictions)."""
    from ..tasks.evaluate import CLASSIFY, DEFAULT_DATASET, check_task_dataset
    from ..train import evaluate_checkpoint, load_model

    model, state = load_model(ns.checkpoint, neuron=ns.neuron)
    task = model.config["task"]
    dataset = ns.dataset or state.get("train_args", {}).get("dataset") or DEFAULT_DATASET[task]
    check_task_dataset(task, dataset, ns.checkpoint)
    if task != CLASSIFY:
        return _eval_dense(ns, model, state, dataset)
    if ns.pictures or ns.samples:
        raise ConfigError("--pictures and --samples are for detection and segmentation checkpoints")
    r = evaluate_checkpoint(ns.checkpoint, dataset, ns.neuron, ns.data_dir)
    print_result(r, ns.json,
                 f"{r['model']} ({r['neuron']} neurons) on {dataset} test: accuracy {r['accuracy']:.4f}, "
                 f"loss {r['loss']:.4f}, firing rate {r['firing_rate']:.4f} ({r['samples']} samples)")
    return 0


def _eval_dense(ns, model, state, dataset) -> int:
    """eval of a detection or segmentation checkpoint: the torch model's task metric."""
    import numpy as np

    from ..errors import ShapeError
    from ..tasks import decode
    from ..tasks.evaluate import check_head_fits, metric_text, per_class_text, score, test_split
    from ..train.dense import head_values

    task, name = model.config["task"], model.config["name"]
    data = test_split(task, dataset, ns.checkpoint, model.config["img_size"], model.timesteps, ns.samples,
                      ns.data_dir)
    if tuple(data.x.shape[1:4]) != model.input_shape():
        raise ShapeError(f"{ns.checkpoint}: model {name} expects input {model.input_shape()} (C, H, W); "
                         f"dataset {dataset} gives {tuple(data.x.shape[1:4])}")
    values = head_values(model, data.x.astype(np.float32))
    check_head_fits(task, values.shape[1], data, ns.checkpoint)
    stride = data.x.shape[2] // values.shape[2]
    r = {**score(task, values, data, stride), "model": name, "task": task, "dataset": dataset,
         "checkpoint": ns.checkpoint, "epoch": state["epoch"], "neuron": model.config["neuron"],
         "samples": len(data), "pictures": []}
    if ns.pictures:
        from ..analysis.pictures import scene_pictures

        r["pictures"] = scene_pictures(ns.pictures, data, task, decode(task, values, data.num_classes, stride,
                                                                        data.x.shape[2:4]), ns.pictures_count)
    print_result(r, ns.json, "\n".join([
        f"{name} ({r['neuron']} neurons) on {dataset} test ({len(data)} samples): {metric_text(task, r)}",
        f"  per class {'AP@0.5' if task == 'detect' else 'IoU'}: {per_class_text(task, r, data.info['classes'])}",
        *(f"picture: {p}" for p in r["pictures"])]))
    return 0


def handle_pipeline(ns) -> int:
    """The main job on bundled data: train (default msf_tiny on digits; or take
    --checkpoint), evaluate, export to OUT/model.net, check the integer network,
    run it on Lava's CPU simulator and compare Lava, the reference executor and torch."""
    from ..pipeline import run_pipeline

    r = run_pipeline(_train_args(ns), ns.checkpoint, ns.lava_samples)
    lava = r["lava"]
    print_result(r, ns.json,
                 f"pipeline: {r['model']} on {r['dataset']} (T={r['timesteps']}), "
                 f"{'trained ' + str(ns.epochs) + ' epochs' if r['trained'] else 'from ' + r['checkpoint']}, "
                 f"{r['wall_seconds']:.0f} s\n"
                 f"  test accuracy, torch, deployable neurons: {r['test_accuracy']:.4f} (epoch {r['best_epoch']})\n"
                 f"  test accuracy, torch, float reference neurons: {r['float_neuron_test_accuracy']:.4f}\n"
                 f"  test accuracy, exported integer network: {r['quantized_test_accuracy']:.4f}\n"
                 f"  Lava CPU simulator (fixed_pt) on {lava['samples']} test samples: accuracy "
                 f"{lava['accuracy']:.4f} (reference executor {lava['reference_accuracy']:.4f}, "
                 f"torch {lava['torch_accuracy']:.4f}); identical to the reference executor on "
                 f"{100 * lava['reference_agreement']:.1f}% of samples; {lava['steps_per_second']:.1f} steps/s\n"
                 f"  mean firing rate: {r['test_firing_rate']:.4f}\n"
                 f"  checkpoint: {r['checkpoint']}\n  export: {r['net']}")
    return 0


def register(sub) -> None:
    from ..train import TrainArgs

    d = TrainArgs()
    s = add_command(sub, "train", handle_train, "train a model", inputs=("init", "teacher"), outputs={"out": DIRECTORY})
    _add_train_options(s, d)

    s = add_command(sub, "eval", handle_eval, "evaluate a checkpoint on a test split: accuracy, or mAP@0.5 and "
                    "mAP@0.5:0.95 (detection), mIoU (segmentation)", inputs=("checkpoint",),
                    outputs={"pictures": DIRECTORY})
    s.add_argument("checkpoint")
    add_dataset_options(s, None, "the one the checkpoint was trained on")
    s.add_argument("--neuron", default=None, help="override the neuron mode (deploy or float)")
    s.add_argument("--samples", type=positive_int, default=None,
                   help="the first N test samples (detection and segmentation; default: all)")
    s.add_argument("--pictures", default=None, metavar="DIR",
                   help="write PNGs of predicted boxes or masks over the input frames, beside the ground truth "
                   "(detection and segmentation)")
    s.add_argument("--pictures-count", type=positive_int, default=8, help="samples drawn (default 8)")
    add_json(s)

    s = add_command(sub, "pipeline", handle_pipeline, "main job on bundled data: train (msf_tiny on digits), "
                    "evaluate, export, run on Lava, compare", inputs=("checkpoint", "init", "teacher"),
                    outputs={"out": DIRECTORY})
    _add_train_options(s, d)
    s.add_argument("--checkpoint", default=None, help="skip training: start from this checkpoint")
    s.add_argument("--lava-samples", type=positive_int, default=64, help="test samples run on Lava (default 64)")
    s.set_defaults(out="runs/pipeline")
