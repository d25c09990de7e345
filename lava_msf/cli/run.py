"""`run` (a .net file on a backend over a test split) and `check` (validate a
.net file: reference executor vs torch backend, accuracy)."""

from ..errors import ConfigError
from .options import FILE, add_command, add_dataset_options, add_input_file_options, add_json, \
    check_input_file_options, positive_int, print_result, progress_of, write_json


def _run_text(r: dict) -> str:
    from ..tasks.evaluate import metric_text

    lines = [f"{r['net']} on {r['dataset']} test ({r['samples']} samples, T={r['timesteps']}), "
             f"backend {r['backend']}:",
             f"  {metric_text(r['task'], r)} (reference executor {metric_text(r['task'], r, 'reference_')})",
             f"  agreement with the reference executor: {100 * r['reference_agreement']:.2f}% of samples "
             f"identical over all steps (max |difference| {r['max_abs_difference']:g})"]
    if "lava_steps" in r:
        lines.append(_lava_text(r))
    lines.append(f"  wall time {r['wall_seconds']:.1f} s")
    return "\n".join(lines)


def _lava_text(r: dict) -> str:
    return (f"  Lava: {r['processes']} processes, pipeline latency {r['latency_steps']} steps, "
            f"{r['lava_steps']} steps of {r['batch']} samples at {r['steps_per_second']:.1f} steps/s, "
            f"compile {r['compile_seconds']:.1f} s")


def _inputs_text(r: dict) -> str:
    lines = [f"{r['net']} on {r['inputs']} ({r['samples']} samples, T={r['timesteps']}, layout {r['layout']}"
             f"{', transformed' if r['transform'] else ''}), backend {r['backend']}:"]
    for key, a in r["arrays"].items():
        lines.append(f"  {key} {tuple(a['shape'])}: {a['nonzero']} nonzero, values {a['min']:g} to {a['max']:g}")
    if "lava_steps" in r:
        lines.append(_lava_text(r))
    if r["out"]:
        lines.append(f"  wrote {r['out']}")
    lines.append(f"  wall time {r['wall_seconds']:.1f} s")
    return "\n".join(lines)


def handle_run(ns) -> int:
    """Run a .net file on Lava (or the reference executor) over a test split,
    or on the frames of an array file (--inputs)."""
    check_input_file_options(ns, needs_inputs=("probe",))
    if ns.inputs is None:
        from ..pipeline import run_net

        r = run_net(ns.net, ns.dataset, ns.samples, ns.backend, ns.batch, progress_of(ns), ns.data_dir)
        write_json(ns.out, r)
        print_result(r, ns.json, _run_text(r))
        return 0
    from ..pipeline import run_inputs

    if ns.out and not ns.out.lower().endswith(".npz"):
        raise ConfigError(f"--out {ns.out}: with --inputs, --out is an .npz of the outputs and probes")
    r = run_inputs(ns.net, ns.inputs, ns.backend, ns.layout or "nchwt", ns.transform, ns.probe or (), ns.samples,
                   ns.batch, ns.out, progress_of(ns))
    print_result(r, ns.json, _inputs_text(r))
    return 0


def handle_check(ns) -> int:
    """Validate a .net file; reference executor vs torch backend; accuracy."""
    from ..export.verify import verify_network
    from ..netfile import read_net
    from ..pipeline import dataset_of, net_test_split
    from ..tasks.evaluate import metric_text, task_of

    net = read_net(ns.net)
    if ns.timesteps is not None:
        net.timesteps = ns.timesteps
    if net.timesteps < 1:
        raise ConfigError(f"{ns.net}: the file gives no time steps; pass --timesteps")
    dataset = dataset_of(ns.dataset, net)
    data = net_test_split(net, ns.net, dataset, ns.samples, ns.data_dir)
    r = verify_network(net, data, ns.reference_samples, progress=progress_of(ns))
    task = task_of(net.meta)
    r.update(net=ns.net, dataset=dataset, layers=len(net.layers), timesteps=net.timesteps, task=task)
    print_result(r, ns.json,
                 f"{ns.net}: {len(net.layers)} layers, T={net.timesteps}, valid\n"
                 f"  reference executor vs torch backend: {100 * r['reference_agreement']:.1f}% of "
                 f"{r['reference_samples']} samples identical over all steps\n"
                 f"  integer network on {dataset} test: {metric_text(task, r, 'quantized_')} "
                 f"({r['quantized_samples']} samples)")
    return 0


def register(sub) -> None:
    s = add_command(sub, "check", handle_check, "validate a .net file, compare reference and torch executors, "
                    "accuracy (mAP or mIoU for a detection or segmentation network)", inputs=("net",))
    s.add_argument("net")
    add_dataset_options(s, None)
    s.add_argument("--samples", type=positive_int, default=None, help="evaluate on the first N test samples only")
    s.add_argument("--reference-samples", type=positive_int, default=8,
                   help="samples run through the (slow) numpy reference executor")
    s.add_argument("--timesteps", type=positive_int, default=None, help="override (needed for plain NetX files)")
    add_json(s)

    s = add_command(sub, "run", handle_run, "run a .net file on Lava's CPU simulator (or the reference executor) "
                    "over a test split: accuracy (mAP, mIoU), agreement with the reference, speed; or on the frames "
                    "of an array file (--inputs): outputs and probed layers", inputs=("net", "inputs"),
                    outputs={"out": FILE})
    s.add_argument("net")
    add_dataset_options(s, None)
    s.add_argument("--samples", type=positive_int, default=None, help="the first N test samples (default: all)")
    s.add_argument("--backend", default="lava-cpu", help="lava-cpu (default), lava-cpu-float, lava-cpu-fused, "
                   "lava-cpu-decomposed, loihi2 or reference (`lava-msf backends` describes them)")
    s.add_argument("--batch", type=positive_int, default=None,
                   help="samples per Lava step (the graph's batch axis; the reference executor's batch); "
                        "default min(64, samples), 1 on the decomposed backends (no batch axis there)")
    s.add_argument("--out", default=None, help="also write the JSON result to this file; with --inputs, an "
                   ".npz of the arrays `output` and `probe:LAYER` (in --layout, with a sample axis)")
    add_input_file_options(s)
    s.add_argument("--probe", action="append", metavar="LAYER",
                   help="also record this layer's values (repeatable; 'all': every layer); with --inputs")
    s.add_argument("--no-progress", action="store_true")
    add_json(s)
