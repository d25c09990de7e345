"""The `lava-msf` command line.

Every user error ends in one line on stderr and exit status 2; results go to
stdout as text, or as one JSON object with --json.
"""

import argparse
import json
import sys
import time

from . import signals
from .errors import ConfigError, LavaMsfError

EXIT_USAGE = 2


def _print_result(result: dict, as_json: bool, text: str) -> None:
    print(json.dumps(result, indent=2, sort_keys=True) if as_json else text)


def _write_json(path, result: dict) -> None:
    """--out: the result as JSON, written atomically (an interrupted run leaves the old file)."""
    if path:
        from .atomic import write_text

        write_text(path, json.dumps(result, indent=2, sort_keys=True) + "\n")


def _train_args(ns):
    from .train import TrainArgs

    return TrainArgs(model=ns.model, dataset=ns.dataset, out=ns.out, timesteps=ns.timesteps,
                     epochs=ns.epochs, batch_size=ns.batch_size, lr=ns.lr, seed=ns.seed,
                     sdsa=ns.sdsa, neuron=ns.neuron, img_size=ns.img_size, data_dir=ns.data_dir,
                     limit_train=ns.limit_train, limit_test=ns.limit_test, resume=ns.resume, init=ns.init,
                     device=ns.device, progress=not ns.no_progress)


def cmd_models(ns) -> int:
    from .model import list_models, model_config

    configs = {name: model_config(name) for name in list_models()}
    text = "\n".join(f"{n:10s} embed_dim={c['embed_dim']} depths={c['depths']} heads={c['heads']} "
                     f"img_size={c['img_size']} in_channels={c['in_channels']} classes={c['num_classes']}"
                     for n, c in configs.items())
    _print_result(configs, ns.json, text)
    return 0


def cmd_train(ns) -> int:
    from .train import train

    t0 = time.time()
    metrics = train(_train_args(ns))
    metrics["wall_seconds"] = time.time() - t0
    metrics["out"] = ns.out
    _print_result(metrics, ns.json,
                  f"trained {ns.model} on {ns.dataset}: test accuracy {metrics['test_accuracy']:.4f} "
                  f"(best {metrics['best_accuracy']:.4f}) after epoch {metrics['epoch']}; "
                  f"checkpoints in {ns.out}")
    return 0


def cmd_eval(ns) -> int:
    from .train import evaluate_checkpoint

    r = evaluate_checkpoint(ns.checkpoint, ns.dataset, ns.neuron, ns.data_dir)
    _print_result(r, ns.json,
                  f"{r['model']} ({r['neuron']} neurons) on {ns.dataset} test: accuracy {r['accuracy']:.4f}, "
                  f"loss {r['loss']:.4f}, firing rate {r['firing_rate']:.4f} ({r['samples']} samples)")
    return 0


def cmd_pipeline(ns) -> int:
    """The main job on bundled data: train (default msf_tiny on digits; or take
    --checkpoint), evaluate the checkpoint with deployable and float reference
    neurons, export it to OUT/model.net, check the integer network, run it on
    Lava's CPU simulator and compare Lava, the reference executor and torch."""
    from .data import load_dataset
    from .export import export_for_data
    from .export.verify import verify_network
    from .netfile import read_net, write_net
    from .train import evaluate, evaluate_checkpoint, load_model, train

    t0 = time.time()
    args = _train_args(ns)
    if ns.checkpoint:
        best = ns.checkpoint
    else:
        train(args)
        best = f"{ns.out}/best.pt"
    net_path = f"{ns.out}/model.net"
    deploy = evaluate_checkpoint(best, args.dataset, data_dir=args.data_dir)
    float_ref = evaluate_checkpoint(best, args.dataset, neuron="float", data_dir=args.data_dir)
    model, _ = load_model(best)
    data = load_dataset(args.dataset, "test", model.config["img_size"], model.timesteps, data_dir=args.data_dir)
    write_net(export_for_data(model, data), net_path)
    check = verify_network(read_net(net_path), data, reference_samples=8, progress=not ns.no_progress)
    lava = _run_net(net_path, args.dataset, ns.lava_samples, "lava-cpu", 32, progress=not ns.no_progress,
                    data_dir=args.data_dir)
    torch_subset = evaluate(model, data.head(ns.lava_samples))["accuracy"]
    result = {"model": model.config["name"], "dataset": args.dataset, "timesteps": model.timesteps,
              "trained": not ns.checkpoint, "checkpoint": best, "best_epoch": deploy["epoch"],
              "test_accuracy": deploy["accuracy"], "test_firing_rate": deploy["firing_rate"],
              "float_neuron_test_accuracy": float_ref["accuracy"], "net": net_path,
              "quantized_test_accuracy": check["quantized_accuracy"],
              "reference_vs_torch_backend_agreement": check["reference_agreement"],
              "lava": {**lava, "torch_accuracy": torch_subset}, "wall_seconds": time.time() - t0}
    _print_result(result, ns.json,
                  f"pipeline: {result['model']} on {args.dataset} (T={model.timesteps}), "
                  f"{'trained ' + str(args.epochs) + ' epochs' if not ns.checkpoint else 'from ' + best}, "
                  f"{result['wall_seconds']:.0f} s\n"
                  f"  test accuracy, torch, deployable neurons: {deploy['accuracy']:.4f} (epoch {deploy['epoch']})\n"
                  f"  test accuracy, torch, float reference neurons: {float_ref['accuracy']:.4f}\n"
                  f"  test accuracy, exported integer network: {check['quantized_accuracy']:.4f}\n"
                  f"  Lava CPU simulator (fixed_pt) on {lava['samples']} test samples: accuracy "
                  f"{lava['accuracy']:.4f} (reference executor {lava['reference_accuracy']:.4f}, "
                  f"torch {torch_subset:.4f}); identical to the reference executor on "
                  f"{100 * lava['reference_agreement']:.1f}% of samples; {lava['steps_per_second']:.1f} steps/s\n"
                  f"  mean firing rate: {deploy['firing_rate']:.4f}\n"
                  f"  checkpoint: {best}\n  export: {net_path}")
    return 0


def cmd_export(ns) -> int:
    """Checkpoint -> .net file, with the quantization report and float vs.
    quantized test accuracy."""
    from .data import load_dataset
    from .export import evaluate_network, export_for_data
    from .netfile import write_net
    from .train import evaluate, load_model
    from .train.trainer import check_input

    model, state = load_model(ns.checkpoint)
    dataset = ns.dataset or state.get("train_args", {}).get("dataset", "digits")
    data = load_dataset(dataset, "test", model.config["img_size"], model.timesteps, ns.samples, ns.data_dir)
    check_input(model, data)
    net = export_for_data(model, data)
    float_acc = evaluate(model, data)["accuracy"]
    quant_acc = evaluate_network(net, data)["accuracy"]
    write_net(net, ns.out)
    layers = net.meta["quantization"]
    result = {"checkpoint": ns.checkpoint, "out": ns.out, "model": model.config["name"], "dataset": dataset,
              "samples": len(data), "float_accuracy": float_acc, "quantized_accuracy": quant_acc,
              "layers": len(net.layers), "quantization": layers}
    rows = [f"  {name:40s} exp {q['weight_exp']:3d}  weight rel. error {q['weight_rel_error']:.4f}  "
            f"bias max error {q['bias_max_error']:.4f}" for name, q in layers.items()]
    _print_result(result, ns.json, "\n".join(
        [f"exported {model.config['name']} ({len(net.layers)} layers) to {ns.out}", "quantization:", *rows,
         f"test accuracy on {dataset} ({len(data)} samples): float {float_acc:.4f}, "
         f"quantized {quant_acc:.4f} ({100 * (quant_acc - float_acc):+.2f} points)"]))
    return 0


def cmd_check(ns) -> int:
    """Validate a .net file; reference executor vs torch backend; accuracy."""
    from .data import load_dataset
    from .export.verify import check_dataset_fits, verify_network
    from .netfile import read_net

    net = read_net(ns.net)
    if ns.timesteps is not None:
        net.timesteps = ns.timesteps
    if net.timesteps < 1:
        raise ConfigError(f"{ns.net}: the file gives no time steps; pass --timesteps")
    ns.dataset = _dataset_of(ns.dataset, net)
    data = load_dataset(ns.dataset, "test", net.layers[0].shape[1], net.timesteps, ns.samples, ns.data_dir)
    check_dataset_fits(net, data, ns.net)
    r = verify_network(net, data, ns.reference_samples, progress=not ns.json)
    r.update(net=ns.net, dataset=ns.dataset, layers=len(net.layers), timesteps=net.timesteps)
    _print_result(r, ns.json,
                  f"{ns.net}: {len(net.layers)} layers, T={net.timesteps}, valid\n"
                  f"  reference executor vs torch backend: {100 * r['reference_agreement']:.1f}% of "
                  f"{r['reference_samples']} samples identical over all steps\n"
                  f"  quantized accuracy on {ns.dataset} test: {r['quantized_accuracy']:.4f} "
                  f"({r['quantized_samples']} samples)")
    return 0


def _dataset_of(dataset: str | None, net) -> str:
    """The --dataset given, else the one the .net file was exported with, else digits."""
    return dataset or net.meta.get("data", {}).get("dataset") or "digits"


def _run_text(r: dict) -> str:
    lines = [f"{r['net']} on {r['dataset']} test ({r['samples']} samples, T={r['timesteps']}), "
             f"backend {r['backend']}:",
             f"  accuracy {r['accuracy']:.4f} (reference executor {r['reference_accuracy']:.4f})",
             f"  agreement with the reference executor: {100 * r['reference_agreement']:.2f}% of samples "
             f"identical over all steps (max |difference| {r['max_abs_difference']:g})"]
    if "lava_steps" in r:
        lines.append(f"  Lava: {r['processes']} processes, pipeline latency {r['latency_steps']} steps, "
                     f"{r['lava_steps']} steps at {r['steps_per_second']:.1f} steps/s, "
                     f"compile {r['compile_seconds']:.1f} s")
    lines.append(f"  wall time {r['wall_seconds']:.1f} s")
    return "\n".join(lines)


def _run_net(net_path: str, dataset: str | None, samples, backend: str, batch: int, progress: bool,
             data_dir=None) -> dict:
    from .data import load_dataset
    from .export.verify import check_dataset_fits
    from .netfile import read_net
    from .reference import network_inputs
    from .runtime import get_backend
    from .runtime.evaluate import compare, reference_readout, run_dataset

    chosen = get_backend(backend)
    for name, value in (("--samples", samples), ("--batch", batch)):
        if value is not None and value < 1:
            raise ConfigError(f"{name} must be at least 1, got {value}")
    net = read_net(net_path)
    if net.timesteps < 1:
        raise ConfigError(f"{net_path}: the file gives no time steps (a plain NetX file?)")
    dataset = _dataset_of(dataset, net)
    data = load_dataset(dataset, "test", net.layers[0].shape[1], net.timesteps, samples, data_dir)
    check_dataset_fits(net, data, net_path)
    # Lava first: its process models are forked before torch is loaded for the
    # reference executor's torch twin (bit-identical to the numpy one, tested)
    readout, stats = run_dataset(net, data.x, chosen, batch_samples=batch, progress=progress)
    from .export import TorchBackend

    reference = reference_readout(net, network_inputs(net, data.x), TorchBackend)
    return {**stats, **compare(readout, reference, data.y), "net": net_path, "dataset": dataset}


def cmd_run(ns) -> int:
    """Run a .net file on Lava (or the reference executor) over a test split."""
    r = _run_net(ns.net, ns.dataset, ns.samples, ns.backend, ns.batch, progress=not (ns.json or ns.no_progress),
                 data_dir=ns.data_dir)
    _write_json(ns.out, r)
    _print_result(r, ns.json, _run_text(r))
    return 0


def _inspect_source(source: str, timesteps):
    """A .net file, or a registry model at its native size with untrained
    weights (exported in memory; nothing is run)."""
    import os

    if os.path.exists(source) or source.endswith(".net"):
        from .netfile import read_net

        return read_net(source)
    from .export import export_network
    from .model import create_model

    return export_network(create_model(source, timesteps=timesteps).eval())


def cmd_inspect(ns) -> int:
    """Resource report and constraint check of a network on a Loihi-class target."""
    from .chip.loihi2 import get_target
    from .chip.report import inspect_network, report_text

    target = get_target(ns.target)
    net = _inspect_source(ns.source, ns.timesteps)
    r = {**inspect_network(net, target), "source": ns.source}
    _print_result(r, ns.json, report_text(r))
    return 0


def cmd_backends(ns) -> int:
    """The execution backends and what each selects."""
    from .runtime.backends import BACKENDS

    rows = {}
    for b in BACKENDS.values():
        try:
            b.check_available()
            available = True
        except LavaMsfError:
            available = False
        rows[b.name] = {"select_tag": b.select_tag, "decomposed": b.decomposed, "hardware": b.hardware,
                        "available": available, "description": b.description}
    text = "\n".join(f"{n:20s} {'available' if r['available'] else 'unavailable':11s} {r['description']}"
                     for n, r in rows.items())
    _print_result(rows, ns.json, text)
    return 0


def cmd_stream(ns) -> int:
    """Run a .net file continuously on an event file, streamed in chunks:
    a decision per window, throughput and latency. Ctrl-C ends the run and
    reports what was decided so far."""
    from .events import open_events
    from .netfile import read_net
    from dataclasses import asdict

    from .stream import EventStream

    net = read_net(ns.net)
    if net.timesteps < 1 and ns.window is None:
        raise ConfigError(f"{ns.net}: the file gives no time steps: give --window")
    events = open_events(ns.events, ns.sensor)
    if events.sensor_size is None:
        raise ConfigError(f"{ns.events}: the file does not state its sensor size: give --sensor W H")
    reset = None if ns.reset == "never" else ("window" if ns.reset == "window" else _positive_int(ns.reset, "--reset"))
    stream = EventStream(net, events.sensor_size, ns.bin_us, ns.window, reset, ns.backend, ns.start_us)
    decisions, interrupted, status = [], False, 0
    try:
        for d in stream.run(events.chunks(ns.chunk_events)):
            decisions.append(asdict(d))
            if not ns.json and not ns.quiet:
                print(f"window {d.window:6d}  {d.start_us / 1e6:10.3f}-{d.end_us / 1e6:.3f} s  "
                      f"{d.name:16s} events {d.events:7d}  latency {d.latency_ms or float('nan'):8.1f} ms", flush=True)
    except KeyboardInterrupt as e:
        interrupted, status = True, signals.exit_status(e)
    finally:
        stream.close()
    r = {**stream.report(), "net": ns.net, "events_file": ns.events, "interrupted": interrupted,
         "decisions": decisions}
    st, lat = r["step_ms"], r["decision_latency_ms"]
    _print_result(r, ns.json, "\n".join([
        f"{ns.events} -> {ns.net} on {r['backend']}{' (interrupted)' if interrupted else ''}: "
        f"{r['steps']} steps of {r['bin_us']} us ({r['stream_seconds']:.2f} s of events), "
        f"{len(decisions)} decisions (window {r['window_steps']} steps, reset every "
        f"{'never' if reset is None else r['reset_interval']})",
        f"  throughput {r['steps_per_second']:.1f} steps/s, {r['events_per_second']:.0f} events/s "
        f"({r['events']} events, {r['late_events']} late); compile {r['compile_seconds']:.1f} s",
        f"  step time ms: mean {st.get('mean', 0):.2f}, p50 {st.get('p50', 0):.2f}, p95 {st.get('p95', 0):.2f}, "
        f"max {st.get('max', 0):.2f}; pipeline latency {r['pipeline_latency_steps']} steps, "
        f"decision latency p50 {lat.get('p50', float('nan')):.1f} ms"]))
    return status


def cmd_report(ns) -> int:
    """Firing rates, synaptic operations, FLOPs and energy per inference of a
    .net file on a test split (and of its torch model with --checkpoint); plots."""
    from .analysis import analyze, report_text
    from .data import load_dataset
    from .export.verify import check_dataset_fits
    from .netfile import read_net

    net = read_net(ns.net)
    if net.timesteps < 1:
        raise ConfigError(f"{ns.net}: the file gives no time steps (a plain NetX file?)")
    data = load_dataset(_dataset_of(ns.dataset, net), "test", net.layers[0].shape[1], net.timesteps, ns.samples,
                        ns.data_dir)
    check_dataset_fits(net, data, ns.net)
    model = None
    if ns.checkpoint:
        from .train import load_model

        model, _ = load_model(ns.checkpoint)
    r = analyze(net, data, model, ns.raster, progress=not (ns.json or ns.no_progress))
    rasters = r.pop("rasters")
    r.update(net=ns.net, checkpoint=ns.checkpoint, plots=[])
    if ns.plots:
        from .analysis.plots import write_plots

        r["plots"] = write_plots({**r, "rasters": rasters}, ns.plots)
    r["raster_layers"] = sorted(rasters)
    _write_json(ns.out, r)
    _print_result(r, ns.json, report_text(r) + "".join(f"\nplot: {p}" for p in r["plots"]))
    return 0


def cmd_import_sdt(ns) -> int:
    """An official SDT-V2 checkpoint -> a lava-msf checkpoint (float neurons, as trained)."""
    from .model.official import import_official_checkpoint

    r = import_official_checkpoint(ns.checkpoint, ns.variant, ns.out, ns.timesteps, ns.img_size).as_dict()
    r["out"] = ns.out
    lines = [f"imported SDT-V2 {ns.variant} from {ns.checkpoint} to {ns.out}: {r['consumed']} tensors, "
             f"{r['num_classes']} classes, {r['in_channels']} input channels, T={r['timesteps']}, float neurons"]
    lines += [f"  folded  {k}: {why}" for k, why in r["folded"].items()]
    if r["skipped"]:
        lines.append(f"  skipped {len(r['skipped'])} tensors: {sorted(set(r['skipped'].values()))[0]}")
    lines += [f"  UNUSED  {k}: not part of SDT-V2 {ns.variant}" for k in r["unused"]]
    lines.append(f"next: lava-msf train --init {ns.out} --neuron deploy ... (fine-tune with the deployable "
                 f"neuron), lava-msf export, lava-msf inspect")
    _print_result(r, ns.json, "\n".join(lines))
    return 0


def _positive_int(text: str, option: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"{option} must be a positive number of steps, 'window' or 'never'; got {text!r}")
    return value


def _add_dataset_options(s, default) -> None:
    """default None: the dataset named in the .net file (else digits)."""
    from .data import DATASETS

    s.add_argument("--dataset", default=default, help=f"one of {', '.join(DATASETS)} (default: "
                   f"{default or 'the one the .net file was exported with, else digits'})")
    s.add_argument("--data-dir", default=None, help="folder holding nmnist / dvsgesture (tonic's layout)")


def _add_train_options(s, d) -> None:
    s.add_argument("--model", default=d.model)
    _add_dataset_options(s, d.dataset)
    s.add_argument("--out", default=d.out)
    s.add_argument("--timesteps", type=int, default=d.timesteps)
    s.add_argument("--epochs", type=int, default=d.epochs)
    s.add_argument("--batch-size", type=int, default=d.batch_size)
    s.add_argument("--lr", type=float, default=d.lr)
    s.add_argument("--seed", type=int, default=d.seed)
    s.add_argument("--sdsa", default=None, help="v2 (default), v1_kv or v1_qk")
    s.add_argument("--neuron", default=None, help="deploy (default) or float")
    s.add_argument("--img-size", type=int, default=None)
    s.add_argument("--limit-train", type=int, default=None, help="use the first N training samples")
    s.add_argument("--limit-test", type=int, default=None, help="use the first N test samples")
    s.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    s.add_argument("--init", default=None, help="fine-tune: start from this checkpoint's model and weights "
                   "(e.g. from import-sdt); --neuron/--timesteps/--sdsa override, a new head if classes differ")
    s.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    s.add_argument("--no-progress", action="store_true")
    s.add_argument("--json", action="store_true")


def build_parser() -> argparse.ArgumentParser:
    from .train import TrainArgs

    d = TrainArgs()
    p = argparse.ArgumentParser(prog="lava-msf", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("models", help="list the model registry")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_models)

    s = sub.add_parser("train", help="train a model")
    _add_train_options(s, d)
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("eval", help="evaluate a checkpoint on a test split")
    s.add_argument("checkpoint")
    _add_dataset_options(s, "digits")
    s.add_argument("--neuron", default=None, help="override the neuron mode (deploy or float)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser("export", help="export a checkpoint to a .net file (NetX HDF5, extended)")
    s.add_argument("checkpoint")
    s.add_argument("--out", required=True)
    s.add_argument("--dataset", default=None, help="test split to compare float and quantized accuracy on "
                   "(default: the one the checkpoint was trained on)")
    s.add_argument("--data-dir", default=None, help="folder holding nmnist / dvsgesture (tonic's layout)")
    s.add_argument("--samples", type=int, default=None, help="evaluate on the first N test samples only")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_export)

    s = sub.add_parser("check", help="validate a .net file, compare reference and torch executors, accuracy")
    s.add_argument("net")
    _add_dataset_options(s, None)
    s.add_argument("--samples", type=int, default=None, help="evaluate on the first N test samples only")
    s.add_argument("--reference-samples", type=int, default=8,
                   help="samples run through the (slow) numpy reference executor")
    s.add_argument("--timesteps", type=int, default=None, help="override (needed for plain NetX files)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_check)

    s = sub.add_parser("run", help="run a .net file on Lava's CPU simulator (or the reference executor) "
                       "over a test split: accuracy, agreement with the reference, speed")
    s.add_argument("net")
    _add_dataset_options(s, None)
    s.add_argument("--samples", type=int, default=None, help="the first N test samples (default: all)")
    s.add_argument("--backend", default="lava-cpu", help="lava-cpu (default), lava-cpu-float, "
                   "lava-cpu-decomposed, loihi2 or reference (`lava-msf backends` describes them)")
    s.add_argument("--batch", type=int, default=32, help="samples per Lava run (pipelined back to back)")
    s.add_argument("--out", default=None, help="also write the JSON result to this file")
    s.add_argument("--no-progress", action="store_true")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("stream", help="run a .net file continuously on an event file (AEDAT4, N-MNIST .bin, "
                       "Prophesee .dat/.raw, .npz, .h5): a decision per window, throughput, latency")
    s.add_argument("net")
    s.add_argument("--events", required=True, help="event file, read in chunks")
    s.add_argument("--bin-us", type=int, default=None, help="microseconds per step (default: from the .net file)")
    s.add_argument("--window", type=int, default=None, help="steps per decision (default: the model's T)")
    s.add_argument("--reset", default="window", help="reset neuron state every window (default), every N steps, "
                   "or never")
    s.add_argument("--backend", default="lava-cpu", help="a Lava backend (`lava-msf backends`)")
    s.add_argument("--sensor", type=int, nargs=2, default=None, metavar=("W", "H"),
                   help="sensor size when the file does not state it")
    s.add_argument("--start-us", type=int, default=None, help="time of the first bin (default: first event)")
    s.add_argument("--chunk-events", type=int, default=1 << 16, help="events read per chunk")
    s.add_argument("--quiet", action="store_true", help="no line per decision")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_stream)

    s = sub.add_parser("backends", help="list the execution backends and what each selects")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_backends)

    s = sub.add_parser("inspect", help="resource report and constraint check on a Loihi-class chip "
                       "(counts only, nothing is run)")
    s.add_argument("source", help="a .net file, or a registry model name (native size, untrained weights)")
    s.add_argument("--target", default="loihi2", help="target chip (loihi2)")
    s.add_argument("--timesteps", type=int, default=None, help="T for a registry model (default: its own)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_inspect)

    s = sub.add_parser("report", help="firing rates, synaptic operations, FLOPs and energy per inference "
                       "(SDT papers' method) of a .net file on a test split; plots")
    s.add_argument("net")
    _add_dataset_options(s, None)
    s.add_argument("--samples", type=int, default=None, help="the first N test samples (default: all)")
    s.add_argument("--checkpoint", default=None, help="the torch checkpoint the file was exported from: "
                   "the same numbers for the torch model")
    s.add_argument("--plots", default=None, metavar="DIR", help="write PNG plots (rates, energy, rasters) here")
    s.add_argument("--raster", nargs="+", default=None, metavar="LAYER",
                   help="layers to draw spike rasters of (default: first, middle and last spiking layer)")
    s.add_argument("--out", default=None, help="also write the JSON report to this file")
    s.add_argument("--no-progress", action="store_true")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_report)

    s = sub.add_parser("import-sdt", help="import an official SDT-V2 checkpoint (BICLab "
                       "Spike-Driven-Transformer-V2) as a lava-msf checkpoint")
    s.add_argument("checkpoint", help="official .pth (a state_dict or save_model()'s dict with 'model')")
    s.add_argument("--variant", required=True, choices=["15m", "8_384", "8_512", "8_768"])
    s.add_argument("--out", required=True, help="lava-msf checkpoint to write")
    s.add_argument("--timesteps", type=int, default=None,
                   help="T (default: the checkpoint's saved args.time_steps, else 1 as the official model)")
    s.add_argument("--img-size", type=int, default=224)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_import_sdt)

    s = sub.add_parser("pipeline", help="main job on bundled data: train (msf_tiny on digits), evaluate, "
                       "export, run on Lava, compare")
    _add_train_options(s, d)
    s.add_argument("--checkpoint", default=None, help="skip training: start from this checkpoint")
    s.add_argument("--lava-samples", type=int, default=64, help="test samples run on Lava (default 64)")
    s.set_defaults(func=cmd_pipeline, out="runs/pipeline")
    return p


def main(argv=None) -> int:
    parser = build_parser()
    ns = parser.parse_args(argv)
    signals.install_sigterm_handler()
    try:
        return ns.func(ns)
    except LavaMsfError as e:
        print(f"lava-msf: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (signals.Terminated)
        print("lava-msf: interrupted", file=sys.stderr)
        return signals.exit_status(e)
