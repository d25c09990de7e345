"""NetX networks on stock NetX and on lava-msf, side by side in one run:
PilotNet-LIF and PilotNet-SDNN (the NetX files lava-dl 0.6.0 ships with its
tests) on stock `lava.lib.dl.netx.hdf5.Network` under
Loihi2SimCfg(select_tag="fixed_pt") and on lava-msf's lava-cpu and
lava-cpu-fused backends. Per network: time per Lava step (compilation and
runtime start excluded, and the first WARMUP steps too) and a bit-exact check
of the output layer between stock NetX and each lava-msf backend.

Both sides get the same integer frames: the input the lava-dl test feeds
(PilotNet-LIF: its image as the input neuron's current, NetX applies no input
transform; PilotNet-SDNN: its input frame), repeated every step as Lava's
RingBuffer source repeats a one-step input. Stock NetX reads the frames from a
RingBuffer and writes the output into one RingBuffer sink; lava-msf runs as a
stream (lava_msf.runtime.stream.StreamRunner), lock-step: each step's frame is
pushed through a pipe and the step's output read back before the next, so its
time includes the host's round trip. NetX's output at step t is lava-msf's at
t - latency (one step per synapse hop, lava_msf.graph.Network.latencies).

Writes docs/results/netx_speed.json and the table in docs/performance.md;
exits non-zero if an output differs or lava-msf is under TARGET x faster.

    .venv/bin/python bench/netx_speed.py [--steps 200] [--nets pilotnet_lif,pilotnet_sdnn]
    .venv/bin/python bench/netx_speed.py --steps 16 --no-write      # a smoke run
    .venv/bin/python bench/netx_speed.py --net FILE.net --input FRAMES.npy   # any file both can run
"""

import argparse
import dataclasses
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from netx_stock import NETX_TESTS, netx_file, to_chw, to_lava  # noqa: E402  (the stock-NetX helpers of the tests)

from lava_msf.atomic import write_text  # noqa: E402
from lava_msf.netfile import read_net  # noqa: E402
from lava_msf.runtime import LavaRunner  # noqa: E402
from lava_msf.runtime.stream import StreamRunner  # noqa: E402

TARGET = 10.0  # lava-msf per step at least this many times faster than stock NetX
BACKENDS = ("lava-cpu", "lava-cpu-fused")
NETS = {  # name -> (network file, the frames lava-dl's test feeds it, NetX layout (W, H, C[, T]))
    "pilotnet_lif": ("gts/pilotnet_lif/network.net", "gts/pilotnet_lif/image.npy"),
    "pilotnet_sdnn": ("gts/pilotnet_sdnn/network.net", "gts/pilotnet_sdnn/input.npy"),
}
DOC = Path("docs/performance.md")
RESULT = Path("docs/results/netx_speed.json")
TABLE_BEGIN, TABLE_END = "<!-- table: bench/netx_speed.py -->", "<!-- end of table: bench/netx_speed.py -->"


def frames_of(path, steps: int) -> np.ndarray:
    """An input file in NetX layout (W, H, C) or (W, H, C, T) -> integer frames
    (C, H, W, steps), its steps repeated cyclically as Lava's RingBuffer does."""
    x = np.load(path, allow_pickle=False)
    if not np.array_equal(x, np.rint(x)):
        raise SystemExit(f"{path}: the frames must be integers")
    x = x[..., None] if x.ndim == 3 else x
    chw = to_chw(x.astype(np.int64))
    return chw[..., np.arange(steps) % chw.shape[-1]]


def run_stock(path, frames: np.ndarray, warmup: int) -> dict:
    """Stock NetX on `frames` (C, H, W, T): every block's output (C, H, W, T)
    (one RingBuffer sink per block: a copy per step, nothing beside a conv), compile
    and start time, and the time per step after `warmup` steps."""
    from lava.lib.dl import netx
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source

    steps = frames.shape[-1]
    # each block reset once, when its input first arrives, as lava-msf's layers are (without it a
    # biased neuron integrates its bias alone during the hops before the input reaches it); NetX
    # counts the offsets from its first block: one hop later when that is not an input neuron
    with h5py.File(path, "r") as f:
        offset = 0 if "neuron" in f["layer/0"] else 1
    net = netx.hdf5.Network(net_config=str(path), reset_interval=steps + 1, reset_offset=offset)
    # NetX's Input block leaves its own port unconnected: feed its neuron, as lava-dl's tests do
    port = net.in_layer.neuron.a_in if type(net.in_layer).__name__ == "Input" else net.inp
    source = Source(data=to_lava(frames, port.shape).astype(np.int32))
    source.s_out.connect(port)
    sinks = [Sink(shape=block.out.shape, buffer=steps) for block in net.layers]
    for block, sink in zip(net.layers, sinks):
        block.out.connect(sink.a_in)
    try:
        t0 = time.perf_counter()
        net.create_runtime(run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        t1 = time.perf_counter()
        net.run(condition=RunSteps(num_steps=warmup))
        t2 = time.perf_counter()
        net.run(condition=RunSteps(num_steps=steps - warmup))
        t3 = time.perf_counter()
        outputs = [to_chw(sink.data.get()) for sink in sinks]
    finally:
        net.stop()
    return {"outputs": outputs, "blocks": [type(b).__name__ for b in net.layers],
            "compile_start_seconds": t1 - t0, "per_step_ms": 1e3 * (t3 - t2) / (steps - warmup)}


def run_lava_msf(net, frames: np.ndarray, backend: str, warmup: int) -> dict:
    """lava-msf's stream on `frames` (C, H, W, T): the output layer's values
    (C, H, W, T) per model step, compile and start time, and the mean step time
    after `warmup` steps."""
    outputs, times = [], []
    with StreamRunner(net, backend, reset_interval=None) as runner:
        for t in range(frames.shape[-1]):
            outputs += runner.step(frames[..., t])
            times.append(runner.step_seconds)
        outputs += runner.drain()
        compile_seconds, processes = runner.compile_seconds, len(runner.graph.processes)
    return {"output": np.stack(outputs, axis=-1), "processes": processes, "compile_start_seconds": compile_seconds,
            "per_step_ms": 1e3 * float(np.mean(times[warmup:]))}


def probe_lava_msf(net, frames: np.ndarray, backend: str, names: list) -> dict:
    """The values (C, H, W, T) of the layers `names` on `backend` (one sample, untimed)."""
    with LavaRunner(net, backend, batch_samples=1, probes=names) as runner:
        _, probes = runner.run(frames[None])
    return {name: value[0] for name, value in probes.items()}


def compare(stock: np.ndarray, ours: np.ndarray, latency: int) -> dict:
    """NetX's value at step t against lava-msf's at model step t - latency."""
    steps = stock.shape[-1] - latency
    if stock.shape[:3] != ours.shape[:3]:
        return {"steps_compared": 0, "bit_exact": False, "shapes": [list(stock.shape[:3]), list(ours.shape[:3])]}
    a, b = stock[..., latency:], ours[..., :steps]
    return {"steps_compared": int(steps), "bit_exact": bool(np.array_equal(a, b)),
            "values_differing": int((a != b).sum()), "nonzero": int(np.count_nonzero(a)),
            "max_abs": float(np.abs(a).max(initial=0))}


def shown(path) -> str:
    """A path for the results: a file lava-dl ships as NETX_TESTS/..., others as given."""
    text = str(path)
    return NETX_TESTS + text.split(NETX_TESTS, 1)[1] if NETX_TESTS in text else text


def unreset_biases(path) -> list:
    """The file's layers whose neuron stock NetX never resets (sigma-delta:
    "Reset is not supported with Sigma Delta neurons") and that have a bias: such
    a neuron runs on its bias alone during the hops before its input arrives,
    where lava-msf resets each layer when its input first arrives."""
    with h5py.File(path, "r") as f:
        groups = [f[f"layer/{i}"] for i in range(len(f["layer"]))]
        return [i for i, g in enumerate(groups) if i > 0 and "neuron" in g and "bias" in g
                and g["neuron/type"][()] in (b"SDNN", "SDNN") and np.any(g["bias"][()])]


def zero_biases(path, layers: list, into: Path) -> Path:
    copy = into / Path(path).name
    shutil.copy(path, copy)
    with h5py.File(copy, "r+") as f:
        for i in layers:
            f[f"layer/{i}/bias"][...] = 0
    return copy


def bench_net(name: str, path, input_path, steps: int, warmup: int, check_steps: int) -> dict:
    frames = frames_of(input_path, steps)
    net = dataclasses.replace(read_net(path), timesteps=steps)
    lat = net.latencies()
    if min(steps, check_steps) <= lat[-1]:
        raise SystemExit(f"{path}: the output comes {lat[-1]} steps after the input: run more steps")
    # NetX makes a block of each layer with a neuron (flatten has none)
    layers = [i for i, layer in enumerate(net.layers) if layer.neuron is not None]
    names = [net.layers[i].name for i in layers]
    print(f"{name}: stock NetX, {steps} steps ...", flush=True)
    stock = run_stock(path, frames, warmup)
    if len(stock["blocks"]) != len(layers):
        raise SystemExit(f"{path}: NetX made {len(stock['blocks'])} blocks ({', '.join(stock['blocks'])}), "
                         f"lava-msf has {len(layers)} layers with a neuron ({', '.join(names)})")
    unreset = unreset_biases(path)
    r = {"file": shown(path), "input": shown(input_path), "frame_shape_chw": list(frames.shape[:3]), "steps": steps,
         "warmup_steps": warmup, "latency_steps": lat[-1], "layers": names,
         "stock_netx": {k: v for k, v in stock.items() if k != "outputs"}, "lava_msf": {},
         "checked_on": "the file itself, every layer, the timed runs' outputs too" if not unreset else
         f"a copy with the biases of file layers {unreset} zeroed (stock NetX never resets sigma-delta neurons: "
         f"a biased one runs on its bias alone before its input arrives), every layer, {check_steps} steps"}
    with tempfile.TemporaryDirectory() as tmp:
        check_path, check_frames, check_net, checked = path, frames, net, stock["outputs"]
        if unreset:
            check_path = zero_biases(path, unreset, Path(tmp))
            check_frames = frames[..., :check_steps]
            check_net = dataclasses.replace(read_net(check_path), timesteps=check_steps)
            print(f"{name}: stock NetX on the check copy, {check_steps} steps ...", flush=True)
            checked = run_stock(check_path, check_frames, 1)["outputs"]
        for backend in BACKENDS:
            print(f"{name}: lava-msf {backend} ...", flush=True)
            ours = run_lava_msf(net, frames, backend, warmup)
            output = compare(stock["outputs"][-1], ours["output"], lat[-1])
            probed = probe_lava_msf(check_net, check_frames, backend, names)
            per_layer = {n: compare(checked[j], probed[n], lat[i]) for j, (i, n) in enumerate(zip(layers, names))}
            r["lava_msf"][backend] = {**{k: v for k, v in ours.items() if k != "output"}, "output": output,
                                      "layers": per_layer,
                                      "bit_exact": all(c["bit_exact"] for c in per_layer.values())
                                      and (output["bit_exact"] or bool(unreset)),
                                      "speedup": stock["per_step_ms"] / ours["per_step_ms"]}
    return r


def table(results: dict) -> str:
    rows = ["| network | stock NetX ms/step | lava-cpu ms/step (speed-up) | lava-cpu-fused ms/step (speed-up) | "
            "outputs |", "|---|---|---|---|---|"]
    for name, r in results["networks"].items():
        ours = r["lava_msf"]
        cells = [f"{ours[b]['per_step_ms']:.2f} ({ours[b]['speedup']:.1f}x)" for b in BACKENDS]
        exact = all(ours[b]["bit_exact"] for b in BACKENDS)
        compared = ours[BACKENDS[0]]["layers"][r["layers"][-1]]["steps_compared"]
        rows.append(f"| {name} | {r['stock_netx']['per_step_ms']:.1f} | {' | '.join(cells)} | "
                    f"{'bit-exact' if exact else 'DIFFER'}: {len(r['layers'])} layers, the last over {compared} "
                    f"steps{' (biases zeroed)' if 'zeroed' in r['checked_on'] else ''} |")
    return "\n".join(rows) + (f"\n\n{results['steps']} steps per run, the first {results['warmup_steps']} not "
                              f"timed; {results['machine']}.")


def write_doc(results: dict) -> None:
    """Replace the generated table in docs/performance.md, keep the prose."""
    text = DOC.read_text()
    if TABLE_BEGIN not in text or TABLE_END not in text:
        raise SystemExit(f"{DOC}: markers {TABLE_BEGIN} / {TABLE_END} missing")
    head, rest = text.split(TABLE_BEGIN, 1)
    write_text(DOC, f"{head}{TABLE_BEGIN}\n{table(results)}\n{TABLE_END}{rest.split(TABLE_END, 1)[1]}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nets", default=",".join(NETS), help=f"comma-separated, of {', '.join(NETS)}")
    p.add_argument("--net", help="instead: one NetX file both sides can run ...")
    p.add_argument("--input", help="... and its input frames, .npy in NetX layout (W, H, C[, T]), integers")
    p.add_argument("--steps", type=int, default=200, help="Lava steps per run")
    p.add_argument("--warmup", type=int, default=4, help="first steps not timed")
    p.add_argument("--check-steps", type=int, default=24,
                   help="steps of the extra check run on a copy with sigma-delta biases zeroed")
    p.add_argument("--no-write", action="store_true", help=f"write neither {RESULT} nor {DOC}")
    ns = p.parse_args()
    if not 1 <= ns.warmup < ns.steps:
        p.error("--warmup must be at least 1 and below --steps")
    if (ns.net is None) != (ns.input is None):
        p.error("--net and --input go together")
    jobs = {Path(ns.net).stem: (ns.net, ns.input)} if ns.net else \
        {name: tuple(netx_file(f) for f in NETS[name]) for name in ns.nets.split(",")}
    results = {"steps": ns.steps, "warmup_steps": ns.warmup, "target_speedup": TARGET,
               "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
                          f"Python {platform.python_version()}",
               "timing": "per Lava step, wall clock; compilation, runtime start and the warm-up steps excluded; "
                         "lava-msf lock-step through host pipes, stock NetX from a RingBuffer source",
               "networks": {name: bench_net(name, *job, ns.steps, ns.warmup, min(ns.check_steps, ns.steps))
                            for name, job in jobs.items()}}
    print(table(results))
    if not ns.no_write:
        write_text(RESULT, json.dumps(results, indent=2, sort_keys=True) + "\n")
        write_doc(results)
    failed = [f"{name} {b}" for name, r in results["networks"].items() for b, o in r["lava_msf"].items()
              if not o["bit_exact"] or o["speedup"] < TARGET]
    if failed:
        print(f"not bit-exact or under {TARGET:g}x: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
