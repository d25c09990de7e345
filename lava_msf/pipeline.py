"""End-to-end jobs on a test split: a .net file run on a backend and compared
with the reference executor (`lava-msf run`), and the whole pipeline from
training to Lava (`lava-msf pipeline`). Results are plain dicts; the CLI
formats them."""

import math
import time

import numpy as np

from .atomic import same_file
from .errors import ConfigError, InputFileError, OutputError, ShapeError


def dataset_of(dataset: str | None, net) -> str:
    """The dataset given, else the one the .net file was exported with, else
    digits (digits-scenes for a detection or segmentation network)."""
    from .tasks.evaluate import DEFAULT_DATASET, task_of

    return dataset or net.meta.get("data", {}).get("dataset") or DEFAULT_DATASET[task_of(net.meta)]


def check_dataset_fits(net, data, where: str) -> None:
    # here, not in export.verify (torch and SLAYER, 4 s to import): `run` forks Lava before torch loads
    from .tasks.evaluate import CLASSIFY, check_head_fits, task_of

    expected = net.layers[0].shape
    if tuple(data.x.shape[1:4]) != tuple(expected):
        raise ShapeError(f"{where}: input is {expected} (C, H, W); dataset {data.name} gives {data.x.shape[1:4]}")
    task = task_of(net.meta)
    if task != CLASSIFY:
        check_head_fits(task, net.output.shape[0], data, where)
    elif int(np.prod(net.output.shape)) < data.num_classes:
        raise ShapeError(f"{where}: output has {int(np.prod(net.output.shape))} values; "
                         f"dataset {data.name} has {data.num_classes} classes")


def net_test_split(net, where: str, dataset: str | None = None, samples: int | None = None, data_dir=None):
    """The test split (first `samples`) that `net` (read from `where`) runs on,
    one of its task's datasets, checked to fit its input and output."""
    from .tasks.evaluate import task_of, test_split

    if net.timesteps < 1:
        raise ConfigError(f"{where}: the file gives no time steps (a plain NetX file?)")
    data = test_split(task_of(net.meta), dataset_of(dataset, net), where, net.layers[0].shape[1], net.timesteps,
                      samples, data_dir)
    check_dataset_fits(net, data, where)
    return data


def run_net(net_path, dataset: str | None = None, samples: int | None = None, backend: str = "lava-cpu",
            batch: int | None = None, progress: bool = True, data_dir=None) -> dict:
    """Run the .net file at `net_path` on `backend` over a test split: accuracy,
    exact agreement with the reference executor per sample, speed."""
    from .netfile import read_net
    from .reference import network_inputs
    from .runtime import get_backend
    from .runtime.evaluate import agreement, reference_readout, run_dataset
    from .tasks.evaluate import score_outputs, task_of

    chosen = get_backend(backend)
    for name, value in (("samples", samples), ("batch", batch)):
        if value is not None and value < 1:
            raise ConfigError(f"{name} must be at least 1, got {value}")
    net = read_net(net_path)
    data = net_test_split(net, str(net_path), dataset, samples, data_dir)
    # Lava first: its process models are forked before the reference
    # executor's torch twin (bit-identical to the numpy one, tested) runs
    readout, stats = run_dataset(net, data.x, chosen, batch, progress=progress)
    from .export import TorchBackend

    reference = reference_readout(net, network_inputs(net, data.x), TorchBackend)
    scores = {**score_outputs(net.meta, readout, data),
              **{f"reference_{k}": v for k, v in score_outputs(net.meta, reference, data).items()}}
    return {**stats, **agreement(readout, reference), **scores, "net": str(net_path),
            "dataset": dataset_of(dataset, net), "task": task_of(net.meta)}


def run_pipeline(args, checkpoint=None, lava_samples: int = 64) -> dict:
    """The main job on bundled data: train with `args` (a TrainArgs; or take
    `checkpoint`), evaluate the checkpoint with deployable and float reference
    neurons, export it to OUT/model.net, check the integer network, run it on
    Lava's CPU simulator and compare Lava, the reference executor and torch."""
    from .data import load_dataset
    from .export import export_for_data
    from .export.verify import verify_network
    from .netfile import read_net, write_net
    from .train import evaluate, evaluate_checkpoint, load_model, train

    if lava_samples < 1:
        raise ConfigError(f"lava_samples must be at least 1, got {lava_samples}")
    net_path = f"{args.out}/model.net"
    if checkpoint and same_file(checkpoint, net_path):
        raise OutputError(f"cannot write {net_path}: it is the checkpoint given")
    t0 = time.time()
    if checkpoint:
        best = checkpoint
    else:
        train(args)
        best = f"{args.out}/best.pt"
    deploy = evaluate_checkpoint(best, args.dataset, data_dir=args.data_dir)
    float_ref = evaluate_checkpoint(best, args.dataset, neuron="float", data_dir=args.data_dir)
    model, _ = load_model(best)
    data = load_dataset(args.dataset, "test", model.config["img_size"], model.timesteps, data_dir=args.data_dir)
    write_net(export_for_data(model, data), net_path)
    check = verify_network(read_net(net_path), data, reference_samples=8, progress=args.progress)
    lava = run_net(net_path, args.dataset, lava_samples, "lava-cpu", None, progress=args.progress,
                   data_dir=args.data_dir)
    torch_subset = evaluate(model, data.head(lava_samples))["accuracy"]
    return {"model": model.config["name"], "dataset": args.dataset, "timesteps": model.timesteps,
            "trained": not checkpoint, "checkpoint": best, "best_epoch": deploy["epoch"],
            "test_accuracy": deploy["accuracy"], "test_firing_rate": deploy["firing_rate"],
            "float_neuron_test_accuracy": float_ref["accuracy"], "net": net_path,
            "quantized_test_accuracy": check["quantized_accuracy"],
            "reference_vs_torch_backend_agreement": check["reference_agreement"],
            "lava": {**lava, "torch_accuracy": torch_subset}, "wall_seconds": time.time() - t0}


# ---------------------------------------------------------------- dense streams
DEFAULT_CONTINUOUS_WINDOWS = 50


def scene_stream(net, where: str, scenes: str, windows: int | None = None, seed: int = 0):
    """The dvs-synth-scenes stream `scenes` names for `net`, at its input size
    and T: a split's recordings back to back ('test', 'train'; the first
    `windows`) or one continuous scene ('continuous', `windows` windows, 50
    by default)."""
    from .data.scenes_events import continuous_stream, split_stream
    from .tasks.evaluate import CLASSIFY, task_of

    if task_of(net.meta) == CLASSIFY:
        raise ConfigError(f"{where}: a classification network; --scenes streams dvs-synth-scenes for detection "
                          f"and segmentation networks")
    c, h, w = net.layers[0].shape
    if c != 2 or h != w:
        raise ConfigError(f"{where}: input is {(c, h, w)} (C, H, W); dvs-synth-scenes streams (2, S, S) spike "
                          f"frames")
    if net.timesteps < 1:
        raise ConfigError(f"{where}: the file gives no time steps (a plain NetX file?)")
    if scenes == "continuous":
        return continuous_stream(windows or DEFAULT_CONTINUOUS_WINDOWS, h, net.timesteps, seed)
    return split_stream(scenes, h, net.timesteps, windows)


def scene_chunks(scenes, chunk_events: int = 1 << 16):
    """A scene stream's events in chunks, as a file would give them."""
    return (scenes.events[i:i + chunk_events] for i in range(0, len(scenes.events), chunk_events))


def window_predictions(net, decisions) -> tuple:
    """(the complete windows' decisions, their predictions from the summed outputs)."""
    from .tasks.evaluate import window_prediction

    full = [d for d in decisions if d.steps == net.timesteps]
    return full, [window_prediction(net.meta, np.reshape(d.scores, net.output.shape), d.steps,
                                    net.layers[0].shape[1:]) for d in full]


def stream_metric(net, scenes, decisions) -> dict:
    """The task metric of a stream's window predictions against each
    window's targets (those of its last bin); complete windows only."""
    from .tasks.evaluate import head_classes, metric, task_of

    task = task_of(net.meta)
    full, found = window_predictions(net, decisions)
    targets = [scenes.window_targets(d.window) for d in full]
    truth = [t[:2] for t in targets] if task == "detect" else np.stack([t[2] for t in targets])
    found = found if task == "detect" else np.stack(found)
    return {"windows": len(full), **metric(task, found, truth, head_classes(task, net.output.shape[0]))}


def offline_check(net, scenes, decisions) -> dict:
    """Streamed == offline: each complete window's streamed output (summed
    over the decision's steps) and prediction against the same .net run offline on that
    window (SceneStream.window_frames, the reference executor's torch twin,
    bit-identical to the numpy one), bit for bit; max_abs_output shows that
    the outputs compared are not all zero."""
    from .export import TorchBackend
    from .reference import network_inputs
    from .runtime.evaluate import reference_readout
    from .tasks import decision_steps
    from .tasks.evaluate import predict_outputs, same_prediction, task_of

    full, found = window_predictions(net, decisions)
    if not full:
        return {"windows": 0, "identical_outputs": 0, "identical_predictions": 0, "identical": False,
                "max_abs_output": 0}
    frames = np.stack([scenes.window_frames(d.window) for d in full])
    offline = reference_readout(net, network_inputs(net, frames), TorchBackend)
    expected = predict_outputs(net.meta, offline, net.layers[0].shape[1:])
    last = decision_steps(net.meta.get("config", {}), net.timesteps)  # the steps a decision sums
    outputs = sum(int(np.array_equal(np.asarray(d.scores), offline[k][..., -last:].sum(-1).reshape(-1)))
                  for k, d in enumerate(full))
    predictions = sum(int(same_prediction(task_of(net.meta), p, e)) for p, e in zip(found, expected))
    return {"windows": len(full), "identical_outputs": outputs, "identical_predictions": predictions,
            "identical": outputs == predictions == len(full),
            "max_abs_output": int(np.abs(offline).max(initial=0))}  # not a comparison of zeros


# ---------------------------------------------------------------- run --inputs
LAYOUTS = {
    "nchwt": "(N, C, H, W, T), or one sample (C, H, W, T): lava-msf's layout",
    "netx": "(N, W, H, C, T), or one sample (W, H, C, T): NetX's and Lava's layout; an input of C neurons "
            "(H = W = 1) also as (N, C, T) or (C, T)",
}
PROBE_PREFIX = "probe:"  # --out members: `output` and `probe:LAYER` per probed layer


def _sample_shapes(shape: tuple, layout: str) -> list:
    """The per-sample shapes (without T) `layout` accepts for a layer of `shape` (C, H, W)."""
    if layout == "nchwt":
        return [tuple(shape)]
    c, h, w = shape
    return [(w, h, c)] + ([(c * h * w,)] if _one_axis(shape) else [])


def _one_axis(shape: tuple) -> bool:
    """At most one of (C, H, W) above 1: NetX's flat neuron order is that axis (e.g. (C, T) samples)."""
    return sum(n > 1 for n in shape) <= 1


def _to_nchwt(x: np.ndarray, shape: tuple, layout: str) -> np.ndarray:
    """An array in `layout` with a sample axis -> (N, C, H, W, T)."""
    from .graph import flip_layout

    if layout == "netx":
        x = x.reshape(len(x), *reversed(shape), x.shape[-1])  # flat (C, T) samples are (1, 1, C, T)
        x = flip_layout(x, 1)
    return x


def _from_nchwt(x: np.ndarray, layout: str) -> np.ndarray:
    """(N, C, H, W, T) -> `layout`, in the shape NetX gives (C neurons: (N, C, T))."""
    from .graph import flip_layout

    if layout == "nchwt":
        return x
    return x.reshape(len(x), -1, x.shape[-1]) if _one_axis(x.shape[1:4]) else flip_layout(x, 1)


def _input_fits(net, layout: str, probes: list, samples):
    """The check read_array calls with the file's declared shape and dtype
    before any data is read: the shape is a network input in `layout`, and the
    run's arrays fit in memory. Records N, T and whether a sample axis is there."""
    from .graph import MAX_TIMESTEPS, memory_budget

    shape_in = net.layers[0].shape
    found = {}

    def check(shape, dtype, where):
        accepted = _sample_shapes(shape_in, layout)
        for per_sample in accepted:
            k = len(per_sample)
            if len(shape) in (k + 1, k + 2) and tuple(shape[-k - 1:-1]) == per_sample:
                break
        else:
            forms = " or ".join(f"(N, {', '.join(map(str, s))}, T)" for s in accepted)
            raise InputFileError(f"{where}: shape {tuple(shape)} does not fit the network's input "
                                 f"{tuple(shape_in)} (C, H, W) in layout {layout}: expected {forms}, "
                                 f"N optional")
        n, t = (shape[0] if len(shape) == k + 2 else 1), shape[-1]
        if n < 1 or not 1 <= t <= MAX_TIMESTEPS:
            raise InputFileError(f"{where}: needs at least 1 sample and 1 to {MAX_TIMESTEPS} time steps, "
                                 f"got N={n}, T={t}")
        n = min(n, samples or n)
        values = sum(math.prod(net.layers[i].shape) for i in [0, len(net.layers) - 1, *probes])
        need = math.prod(shape) * dtype.itemsize + 3 * 8 * n * t * values  # file array; frames, results, copies
        if need > memory_budget():
            raise InputFileError(f"{where}: shape {tuple(shape)} and the values it makes need "
                                 f"{need / 2**30:.1f} GiB, more than {memory_budget() / 2**30:.1f} GiB "
                                 f"(1/4 of this machine's memory)")
        found.update(n=n, t=t, batched=len(shape) == k + 2)

    return check, found


def _integer_frames(x: np.ndarray, net, where: str) -> np.ndarray:
    """The file's values as integer frames: integers and bools as they are;
    reals only with integer values, except on an image network, whose real
    pixels in [0, 1] are quantized to 8 bits (as `--dataset` images are)."""
    from .reference import quantize_images

    if x.dtype.kind != "f":
        _check_range(x, net, where, "values")  # before the cast: uint64 past 2**63 would wrap to negatives
        return x.astype(np.int64)
    if not np.isfinite(x).all():
        raise InputFileError(f"{where}: holds NaN or infinite values")
    if net.meta.get("input") == "image":
        if x.min(initial=0) < 0 or x.max(initial=0) > 1:
            raise InputFileError(f"{where}: real pixel values must lie in [0, 1] (this network's input is an "
                                 f"image); found {x.min():g} to {x.max():g}")
        return quantize_images(x)
    if not (x == np.rint(x)).all():
        raise InputFileError(f"{where}: holds real values that are not integers; this network's input is "
                             f"integer frames (spikes or values)")
    _check_range(x, net, where, "values")  # before the cast: no int64 overflow
    return x.astype(np.int64)


def _graded_bound() -> int:
    """Frames that enter as values are graded messages: signed, this many bits."""
    from .chip.loihi2 import LOIHI2

    return LOIHI2["message_bits"]


def _check_range(frames: np.ndarray, net, where: str, what: str) -> None:
    if not net.graded_input:
        if not np.isin(frames, (0, 1)).all():
            raise InputFileError(f"{where}: {what} must be spikes, 0 or 1 (this network's input layer "
                                 f"takes spikes); found {frames.min()} to {frames.max()}")
        return
    bits = _graded_bound()
    bound = 1 << (bits - 1)
    if frames.min(initial=0) < -bound or frames.max(initial=0) >= bound:
        raise InputFileError(f"{where}: {what} outside the {bits}-bit range of a graded message "
                             f"({-bound}..{bound - 1}); found {frames.min():g} to {frames.max():g}")


def _transformed(x: np.ndarray, net, where: str) -> np.ndarray:
    """NetX's input transform of real or integer values: the input neuron's
    current rint(x * weight + bias), weight 64 = 1.0 (weight-mantissa units)."""
    from .layers.input import transform, transform_frames

    layer = net.layers[0]
    if layer.neuron is None and transform(layer) is None:
        raise ConfigError(f"--transform: the input layer {layer.name!r} has no neuron and no NetX weight/bias "
                          f"transform")
    x = np.asarray(x, dtype=np.float64)
    if not np.isfinite(x).all():
        raise InputFileError(f"{where}: holds NaN or infinite values")
    current = transform_frames(layer, x)
    _check_range(current, net, where, "transformed values")  # before the cast: no int64 overflow
    return current.astype(np.int64)


def read_inputs(net, text: str, layout: str = "nchwt", transform: bool = False, probes=(), samples=None):
    """The integer frames (N, C, H, W, T) in the file named by `text` (FILE
    or FILE:KEY, lava_msf.inputfile), checked against `net`'s input; with
    `transform`, NetX's input transform of the file's values. Returns
    (frames, where, batched: whether the file had a sample axis)."""
    from .inputfile import read_array

    if layout not in LAYOUTS:
        raise ConfigError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    index = [i for i, layer in enumerate(net.layers) if layer.name in set(probes)]
    check, found = _input_fits(net, layout, index, samples)
    x, where = read_array(text, check)
    x = (x if found["batched"] else x[None])[:found["n"]]
    frames = _transformed(x, net, where) if transform else _integer_frames(x, net, where)
    _check_range(frames, net, where, "values")
    return _to_nchwt(frames, net.layers[0].shape, layout), where, found["batched"]


def probe_names(net, probes) -> list:
    """--probe values -> layer names in network order ('all': every layer);
    an unknown name is an error listing the layers."""
    names = [layer.name for layer in net.layers]
    if "all" in probes:
        return names
    unknown = [p for p in dict.fromkeys(probes) if p not in names]
    if unknown:
        listed = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
        raise ConfigError(f"--probe: no layer named {', '.join(map(repr, unknown))}; layers: {listed}")
    return [name for name in names if name in set(probes)]


def _summary(values: np.ndarray, layout: str) -> dict:
    return {"shape": list(_from_nchwt(values, layout).shape), "nonzero": int(np.count_nonzero(values)),
            "min": values.min().item(), "max": values.max().item()}


def run_inputs(net_path, inputs: str, backend: str = "lava-cpu", layout: str = "nchwt", transform: bool = False,
               probes=(), samples: int | None = None, batch: int | None = None, out=None,
               progress: bool = True) -> dict:
    """Run the .net file at `net_path` on the frames of an array file
    (read_inputs), T steps per sample as the file gives, on `backend`; write
    the output layer's values and the probed layers' (`output`, `probe:NAME`,
    in `layout`, with a sample axis) to the .npz `out`, atomically. Returns a
    summary: per array its shape, nonzero count and range, and the run's speed."""
    import dataclasses

    from .atomic import atomic_path
    from .netfile import read_net
    from .runtime import get_backend
    from .runtime.evaluate import run_frames

    chosen = get_backend(backend)
    net = read_net(net_path)
    names = probe_names(net, probes)
    frames, where, batched = read_inputs(net, inputs, layout, transform, names, samples)
    net = dataclasses.replace(net, timesteps=frames.shape[-1])  # each sample runs the steps its input gives
    readout, probed, stats = run_frames(net, frames, chosen, batch, names, progress)
    arrays = {"output": readout, **{PROBE_PREFIX + name: probed[name] for name in names}}
    if out:
        with atomic_path(out) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, **{key: _from_nchwt(v, layout) for key, v in arrays.items()})
    return {**stats, "net": str(net_path), "inputs": where, "layout": layout, "transform": transform,
            "input_had_sample_axis": batched, "out": str(out) if out else None,
            "arrays": {key: _summary(v, layout) for key, v in arrays.items()}}
