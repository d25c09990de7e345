"""Benchmark suite: speed of every way the project runs a Meta-SpikeFormer, side
by side in one run on one machine (`make bench`).

1. Per model step of msf_tiny (and larger variants, for growth with tokens,
   channels and depth): the Lava graph (lava-cpu, one process per layer), the
   fused mode (lava-cpu-fused, the whole net in one process), the numpy
   reference executor and torch eval; Lava outputs checked bit-exact against
   the reference.
2. One conv layer, 64 -> 64 channels 3x3 on 32x32 spikes: the project's Conv
   process model against Lava's stock fixed-point Conv, each in its own
   runtime, outputs bit-exact.
3. The SDSA process model's step per variant, as tokens N and channels D grow.
4. Training samples/s (the project trainer, one short epoch on digits).
5. The executor (`--executor`, alone): msf_tiny and msf_15m at 224x224 per step
   at batch 1 and 64 (layer-major run, step by step as the fused process
   steps, the fused backend on Lava, the readable per-step executor on dense
   kernels as before), each against the dense-BLAS limit measured in the same
   run; cost against input firing rate on a large conv layer and on msf_15m's
   synapses (event-driven, dense, the executor's choice).
6. Batched Lava: msf_tiny per sample-step at batch 1, 8 and 64 for the
   reference executor, the fused process and the Lava graph (every process
   with a batch axis), ratios to the reference in the same run (--batched:
   this table alone).

Writes docs/results/performance.json and the tables of docs/performance.md;
`--executor`: docs/results/executor.json, docs/executor-density.png and the
executor tables of docs/performance.md.

    .venv/bin/python bench/performance.py [--checkpoint runs/pipeline/best.pt] [--quick] [--executor]
"""

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from lava_msf import fixedpoint as fx
from lava_msf import intconv
from lava_msf.atomic import write_text
from lava_msf.data import load_dataset
from lava_msf.export import export_network
from lava_msf.layers import spec
from lava_msf.netfile import read_net
from lava_msf.model import create_model
from lava_msf.reference import Executor, NumpyBackend, network_inputs
from lava_msf.runtime import LavaRunner
from lava_msf.runtime.kernels import fixed_neuron_step, sdsa_step
from lava_msf.train import TrainArgs, calibrate_batchnorm, load_model, train

DOC = Path("docs/performance.md")
TABLES_BEGIN, TABLES_END = "<!-- tables: bench/performance.py -->", "<!-- end of tables -->"
EXECUTOR_BEGIN, EXECUTOR_END = "<!-- executor: bench/performance.py --executor -->", "<!-- end of executor -->"
DENSITY_PLOT = Path("docs/executor-density.png")


def per_step_ms(seconds: float, steps: int) -> float:
    return 1e3 * seconds / max(1, steps)


def timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def growth_exponent(sizes, costs) -> float:
    """Slope of log(cost) over log(size): cost ~ size ** exponent."""
    return float(np.polyfit(np.log(sizes), np.log(costs), 1)[0])


# 1. the network, per model step ------------------------------------------------------------

VARIANTS = {  # msf_tiny and one factor doubled (or the tokens quadrupled) at a time
    "msf_tiny": {},
    "tokens x4 (img 64)": {"img_size": 64},
    "channels x2": {"embed_dim": (64, 128, 256, 256)},
    "depth x2": {"depths": (2, 2, 2, 4, 2)},
}


def network_model(variant: dict, checkpoint: str | None, data):
    """The trained msf_tiny if a checkpoint is given and fits, else an untrained
    model with BatchNorm statistics of the data (activity like a trained one's)."""
    if checkpoint and not variant:
        return load_model(checkpoint)[0], "trained"
    torch.manual_seed(0)
    model = create_model("msf_tiny", **variant)
    return calibrate_batchnorm(model, data(model.config["img_size"]).x[:128]), "BN-calibrated, untrained"


REPEATS = 3  # each time is the best of REPEATS runs: this VM's noise only ever adds time


def best_seconds(fn, *args):
    """(last result, least wall seconds) over REPEATS calls."""
    best = math.inf
    for _ in range(REPEATS):
        out, seconds = timed(fn, *args)
        best = min(best, seconds)
    return out, best


def lava_per_step(net, backend: str, frames: np.ndarray, reference: np.ndarray) -> dict:
    """Lava ms per step of a run after a warm-up run (compile, first steps)."""
    with LavaRunner(net, backend, batch_samples=len(frames)) as runner:
        (_, _), first = timed(runner.run, frames)
        steps = runner.steps
        (readout, _), wall = best_seconds(runner.run, frames)
        steps = (runner.steps - steps) // REPEATS
        processes = len(runner.graph.processes)
    return {"ms_per_step": per_step_ms(wall, steps), "steps": steps, "processes": processes,
            "first_run_seconds": first, "bit_exact": bool(np.array_equal(readout, reference))}


def network_step(name: str, variant: dict, checkpoint: str | None, samples: int, data) -> dict:
    model, weights = network_model(variant, checkpoint, data)
    net = export_network(model)
    split = data(model.config["img_size"])
    frames = network_inputs(net, split.x[:samples])
    t_steps = net.timesteps
    executor = Executor(net)
    executor.run(frames[:1])  # warm-up
    reference, seconds = best_seconds(
        lambda: np.concatenate([executor.run(frames[i:i + 1]) for i in range(len(frames))]))
    reference_ms = per_step_ms(seconds, len(frames) * t_steps)
    x = torch.from_numpy(split.x[:samples]).float()
    with torch.no_grad():
        model(x[:1])
        _, seconds = best_seconds(lambda: [model(x[i:i + 1]) for i in range(len(x))])
    torch_ms = per_step_ms(seconds, len(x) * t_steps)
    r = {"model": name, "weights": weights, "layers": len(net.layers), "samples": len(frames),
         "tokens": next(int(np.prod(layer.shape[1:])) for layer in net.layers if layer.type == "sdsa"),
         "timesteps": t_steps, "reference_ms": reference_ms, "torch_eval_ms": torch_ms}
    for backend in ("lava-cpu", "lava-cpu-fused"):
        lava = lava_per_step(net, backend, frames, reference)
        key = "graph" if backend == "lava-cpu" else "fused"
        r.update({f"{key}_{k}": v for k, v in lava.items()})
        r[f"{key}_vs_reference"] = lava["ms_per_step"] / reference_ms
    return r


# 2. one conv layer: project model vs Lava's stock Conv ---------------------------------------

def conv_layer(steps: int) -> dict:
    """64 -> 64 channels, 3x3, padding 1, on 32x32 spike maps; each process in
    its own runtime, the best of REPEATS runs of `steps` steps after a warm-up step."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.conv.process import Conv as StockConv

    from lava_msf.runtime.proc.conv.process import Conv
    from lava_msf.runtime.proc.frame_source.process import FrameSource
    from lava_msf.runtime.proc.stream_io.process import StreamSink

    rng = np.random.default_rng(0)
    shape = (32, 32, 64)
    total = 1 + REPEATS * steps
    frames = (rng.random((total, *shape)) < 0.2).astype(np.int32)
    weight = rng.integers(-128, 128, (64, 3, 3, 64))
    results, outputs = {}, {}
    for label, cls in (("lava_stock", StockConv), ("project", Conv)):
        source = FrameSource(frames=frames, graded=False)
        conv = cls(weight=weight, input_shape=shape, padding=1)  # the project's: a batch of one, (1, W, H, C)
        sink = StreamSink(shape=(1, *conv.a_out.shape[-3:]), buffer_size=total)
        source.s_out.reshape(conv.s_in.shape).connect(conv.s_in)
        conv.a_out.reshape(sink.a_in.shape).connect(sink.a_in)
        try:
            source.create_runtime(run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
            pipe = sink.output_pipe()
            source.run(condition=RunSteps(num_steps=1))
            got, wall = [pipe.recv()], math.inf
            for _ in range(REPEATS):
                t0 = time.perf_counter()
                source.run(condition=RunSteps(num_steps=steps, blocking=False))
                got += [pipe.recv() for _ in range(steps)]
                source.wait()
                wall = min(wall, time.perf_counter() - t0)
        finally:
            source.stop()
        results[f"{label}_ms_per_step"] = per_step_ms(wall, steps)
        outputs[label] = np.stack(got)
    results.update(layer="conv 64->64 3x3 pad 1, 32x32, 20% spikes", steps=total,
                   speedup=results["lava_stock_ms_per_step"] / results["project_ms_per_step"],
                   bit_exact=bool(np.array_equal(outputs["project"], outputs["lava_stock"])),
                   nonzero_outputs=float((outputs["project"] != 0).mean()))
    return results


# 3. SDSA process step, per variant, with tokens and channels --------------------------------

def sdsa_scaling(repeats: int) -> list:
    """ms per step of the SDSA process model's step function (what its run_spk
    computes) on 20% spikes; heads 8. Tokens N = W*H, channels D."""
    rng = np.random.default_rng(0)
    params = fx.LifParams()
    rows = []
    grid = [(n, 128) for n in (16, 64, 256, 1024)] + [(64, d) for d in (32, 64, 256, 512)]
    for variant in ("v2", "v1_kv", "v1_qk"):
        for tokens, channels in grid:
            side = int(math.isqrt(tokens))
            q, k, v = ((rng.random((1, side, side, channels)) < 0.2).astype(np.int32) for _ in range(3))
            attrs = {"variant": variant, "heads": 8, "scale": 1}
            state = {}

            def neuron(current):
                spikes, state["s"] = fixed_neuron_step(state.get("s"), current, params)
                return spikes

            sdsa_step(attrs, q, k, v, neuron)
            t0 = time.perf_counter()
            for _ in range(repeats):
                sdsa_step(attrs, q, k, v, neuron)
            rows.append({"variant": variant, "tokens": tokens, "channels": channels,
                         "ms_per_step": per_step_ms(time.perf_counter() - t0, repeats)})
    return rows


def sdsa_exponents(rows: list) -> dict:
    """Per variant and axis: the exponent over the whole range and between the
    two largest sizes (where fixed per-call costs no longer dominate)."""
    out = {}
    for variant in ("v2", "v1_kv", "v1_qk"):
        mine = [r for r in rows if r["variant"] == variant]
        out[variant] = {}
        for axis, fixed, other in (("tokens", "channels", 128), ("channels", "tokens", 64)):
            line = [r for r in mine if r[fixed] == other]
            sizes, costs = [r[axis] for r in line], [r["ms_per_step"] for r in line]
            out[variant][axis] = growth_exponent(sizes, costs)
            out[variant][f"{axis}_large"] = growth_exponent(sizes[-2:], costs[-2:])
    return out


# 4. training ---------------------------------------------------------------------------------

def training(samples: int) -> list:
    rows = []
    for name in ("msf_micro", "msf_tiny"):
        with tempfile.TemporaryDirectory() as out:
            metrics = train(TrainArgs(model=name, out=out, epochs=1, limit_train=samples, limit_test=32,
                                      progress=False))
        rows.append({"model": name, "batch_size": TrainArgs.batch_size, "samples": samples,
                     "samples_per_second": metrics["samples_per_second"], "threads": torch.get_num_threads()})
    return rows


# 5. the executor: compiled layer-major path, event-driven synapses ---------------------------

DENSITIES = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5)


def blas_gflops() -> float:
    """float32 GEMM rate of this machine now (best of REPEATS): the dense limit's unit."""
    a = np.random.default_rng(0).random((1024, 1024), dtype=np.float32)
    _, seconds = best_seconds(np.matmul, a, a)
    return 2 * 1024 ** 3 / seconds / 1e9


def dense_limit_ms(net, gflops: float) -> float:
    """ms per sample-step of the network's multiply-accumulates (`report`'s) at the BLAS rate."""
    macs = sum(spec(layer).flops(net, i) for i, layer in enumerate(net.layers))
    return 2 * macs / gflops / 1e6


def readable_steps(net, frames):
    """The readable per-step executor on the dense kernels (the semantics' reference, today's path)."""
    mode, intconv.MODE = intconv.MODE, "dense"
    try:
        ex = Executor(net)
        ex.reset(len(frames))
        return np.stack([ex.step(frames[..., t]) for t in range(frames.shape[-1])], axis=-1)
    finally:
        intconv.MODE = mode


def firing_rate(net, frames) -> float:
    """Mean fraction of nonzero outputs over the spiking layers of one run."""
    probes = {}
    Executor(net).run(frames, probes)
    rates = [np.count_nonzero(np.stack(probes[layer.name])) / np.stack(probes[layer.name]).size
             for layer in net.layers if layer.spiking and layer.type != "input"]
    return float(np.mean(rates))


def executor_speed(net, frames, batch: int, lava: bool, gflops: float) -> dict:
    """ms per sample-step: layer-major run at batch 1 and `batch`, step by step
    (the fused process's path), the fused backend, the readable per-step executor."""
    t_steps = net.timesteps
    ex = Executor(net)
    _, first = timed(ex.run, frames[:1])  # numba compile (or cache load) and crossover measurement
    k = min(4, len(frames))
    ones = [frames[i:i + 1] for i in range(k)]

    def stepwise():
        for f in ones:
            ex.reset(1)
            for t in range(t_steps):
                ex.advance(f[..., t:t + 1])

    reference = readable_steps(net, frames[:k])
    _, readable = best_seconds(lambda: [readable_steps(net, f) for f in ones])
    out, b1 = best_seconds(lambda: np.concatenate([ex.run(f) for f in ones]))
    _, step = best_seconds(stepwise)
    limit = dense_limit_ms(net, gflops)
    r = {"layers": len(net.layers), "timesteps": t_steps, "first_run_seconds": first,
         "dense_limit_ms": limit, "readable_per_step_ms": per_step_ms(readable, k * t_steps),
         "run_b1_ms": per_step_ms(b1, k * t_steps), "stepwise_b1_ms": per_step_ms(step, k * t_steps),
         "bit_exact": bool(np.array_equal(out, reference)), "firing_rate": firing_rate(net, frames[:1])}
    if batch > 1:
        big = frames[:batch]
        ex.run(big)  # crossovers of this batch size
        _, seconds = best_seconds(ex.run, big)
        r.update(batch=len(big), run_batch_ms_per_sample_step=per_step_ms(seconds, len(big) * t_steps))
    if lava:
        fused = lava_per_step(net, "lava-cpu-fused", frames[:k], reference)
        r.update({f"fused_{key}": v for key, v in fused.items()})
    for key in ("readable_per_step_ms", "run_b1_ms", "stepwise_b1_ms", "run_batch_ms_per_sample_step",
                "fused_ms_per_step"):
        if key in r:
            r[key.replace("_ms", "") + "_vs_dense_limit"] = r[key] / limit
    return r


def density_times(ops, shapes, densities, repeats: int) -> dict:
    """ms per step of synapse functions `ops` on random 0/1 inputs of `shapes` at each density:
    event-driven, dense and the executor's choice (auto)."""
    rng = np.random.default_rng(0)
    rows = {m: [] for m in ("event", "dense", "auto")}
    for d in densities:
        xs = [(rng.random(shape) < d).astype(np.int64) for shape in shapes]
        for mode in rows:
            intconv.MODE = mode
            for op, x in zip(ops, xs):
                op([x])  # compile / crossover
            best = math.inf
            for _ in range(repeats):
                t0 = time.perf_counter()
                for op, x in zip(ops, xs):
                    op([x])
                best = min(best, time.perf_counter() - t0)
            rows[mode].append(1e3 * best / shapes[0][0])
    intconv.MODE = "auto"
    return rows


def synapse_ops(net):
    """(reference functions, input shapes) of the conv and dense layers of `net` that read spikes."""
    ops, shapes = [], []
    for i, layer in enumerate(net.layers):
        src = net.layers[layer.inputs[0]] if layer.inputs else None
        if layer.type in ("conv", "dense") and src.spiking and layer.delay is None:
            ops.append(spec(layer).reference(net, i, NumpyBackend))
            shapes.append((1, *src.shape))
    return ops, shapes


def cost_vs_density(net15, gflops: float, quick: bool) -> dict:
    """A large conv layer (128 -> 128, 3x3, 56x56, a window of 4 steps) and, when
    given, msf_15m's synapses at batch 1, against the input firing rate."""
    from lava_msf.graph import Layer, Network

    w = np.random.default_rng(1).integers(-127, 128, (128, 128, 3, 3)) * 2
    conv = Network([Layer("in", "input", (128, 56, 56)), Layer("conv", "conv", (128, 56, 56), (0,),
                                                                     weight=w, attrs={"padding": 1})],
                   timesteps=4, meta={"input": "frames"}).validate()
    op = spec(conv.layers[1]).reference(conv, 1, NumpyBackend)
    densities = DENSITIES[::2] if quick else DENSITIES
    layer_rows = density_times([op], [(4, 128, 56, 56)], densities, 1 if quick else REPEATS)
    out = {"densities": list(densities),
           "conv": {"layer": "conv 128->128 3x3 pad 1, 56x56", "ms_per_step": layer_rows,
                    "dense_limit_ms": dense_limit_ms(conv, gflops)}}
    if net15 is not None:
        ops, shapes = synapse_ops(net15)
        rows = density_times(ops, shapes, densities, 1)
        macs = sum(spec(net15.layers[i]).flops(net15, i) for i, layer in enumerate(net15.layers)
                   if layer.type in ("conv", "dense") and layer.inputs and net15.layers[layer.inputs[0]].spiking)
        out["msf_15m"] = {"layer": f"msf_15m 224x224: its {len(ops)} conv/dense layers on spikes, batch 1",
                          "ms_per_step": rows, "dense_limit_ms": 2 * macs / gflops / 1e6}
    for case in ("conv", "msf_15m"):
        if case in out:  # below the crossover the event-driven cost grows as the spikes: its log-log slope
            ev = out[case]["ms_per_step"]["event"]
            out[case]["event_slope"] = growth_exponent(densities[:len(densities) // 2 + 1],
                                                       ev[:len(densities) // 2 + 1])
    return out


def density_plot(c: dict, speed_change: float) -> None:
    """`speed_change`: the BLAS rate at the start of the run over the rate at its end."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = [k for k in ("conv", "msf_15m") if k in c]
    fig, axes = plt.subplots(1, len(cases), figsize=(5.5 * len(cases), 4), squeeze=False)
    for ax, case in zip(axes[0], cases):
        rows = c[case]["ms_per_step"]
        for mode, style in (("event", "o-"), ("dense", "s-"), ("auto", "k^--")):
            ax.plot(c["densities"], rows[mode], style, label={"auto": "executor's choice"}.get(mode, mode))
        for limit, ls, when in ((c[case]["dense_limit_ms"], ":", "start"),
                                (c[case]["dense_limit_ms"] * speed_change, "-.", "end")):
            ax.axhline(limit, color="grey", ls=ls, label=f"dense BLAS limit (BLAS rate at the {when})")
        ax.set(xscale="log", yscale="log", xlabel="input firing rate", ylabel="ms per step",
               title=c[case]["layer"].split(":")[0])
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(DENSITY_PLOT, dpi=110)
    plt.close(fig)


def msf_15m_net():
    """msf_15m at 224x224, untrained, BatchNorm calibrated on digits (as 3 channels)."""
    torch.manual_seed(0)
    model = create_model("msf_15m", img_size=224)
    x = np.repeat(load_dataset("digits", "test", 224).x[:8], 3, axis=1)
    calibrate_batchnorm(model, x)
    return export_network(model), x


def executor_section(quick: bool) -> dict:
    gflops = blas_gflops()
    r = {"blas_gflops": gflops}
    net = read_net("netx_models/msf_tiny-digits.net")
    frames = network_inputs(net, load_dataset("digits", "test", 32).x[:64])
    r["msf_tiny"] = executor_speed(net, frames, 16 if quick else 64, not quick, gflops)
    tqdm.write(json.dumps(r["msf_tiny"]))
    net15 = None
    if not quick:
        net15, x = msf_15m_net()
        r["msf_15m"] = executor_speed(net15, network_inputs(net15, x[:1]), 1, False, gflops)
        tqdm.write(json.dumps(r["msf_15m"]))
    r["density"] = cost_vs_density(net15, gflops, quick)
    r["blas_gflops_end"] = blas_gflops()
    set_targets(r)
    return r


def set_targets(r: dict) -> None:
    """The issue's targets (absolute, and as ratios) from the measurements in `r`."""
    t, m = r["msf_tiny"], r.get("msf_15m")
    r["targets"] = {"msf_tiny run <= 1.5 ms/step at batch 1": t["run_b1_ms"] <= 1.5,
                    "msf_tiny step by step <= 1.5 ms/step at batch 1": t["stepwise_b1_ms"] <= 1.5,
                    "msf_tiny <= 0.6 ms per sample-step at batch 64": t.get("run_batch_ms_per_sample_step",
                                                                            math.inf) <= 0.6,
                    "all bit-exact": t["bit_exact"] and (m is None or m["bit_exact"])
                    and t.get("fused_bit_exact", True)}
    if m is not None:
        r["targets"]["msf_15m 224 <= 50 ms/step at batch 1"] = m["run_b1_ms"] <= 50
    # the same targets as ratios, for a machine whose speed moves with its load: the 1.5 ms at
    # batch 1 is 2.5x its dense limit (0.6 ms at its slowest BLAS), its 0.6 ms at batch 64 "about twice the
    # dense BLAS time", its 50 ms for msf_15m 4.8x under the 240 ms of the readable per-step executor
    # (against the faster of the run's two BLAS rates: the stricter dense limit)
    strict = max(1.0, r["blas_gflops_end"] / r["blas_gflops"])
    r["ratio_targets"] = {"msf_tiny run, batch 1 <= 2.5x the dense limit": t["run_b1_vs_dense_limit"] * strict <= 2.5,
                          "msf_tiny step by step, batch 1 <= 2.5x": t["stepwise_b1_vs_dense_limit"] * strict <= 2.5,
                          "msf_tiny batch 64 <= 2x the dense limit":
                              t.get("run_batch_per_sample_step_vs_dense_limit", math.inf) * strict <= 2}
    if "fused_per_step_vs_dense_limit" in t:
        r["ratio_targets"]["msf_tiny fused (Lava), batch 1 <= 2.5x"] = \
            t["fused_per_step_vs_dense_limit"] * strict <= 2.5
    if m is not None:
        r["ratio_targets"]["msf_15m run, batch 1 >= 4.8x faster than the readable executor"] = \
            m["readable_per_step_ms"] / m["run_b1_ms"] >= 4.8
        r["ratio_targets"]["msf_15m step by step >= 4.8x faster than the readable executor"] = \
            m["readable_per_step_ms"] / m["stepwise_b1_ms"] >= 4.8


def executor_tables(r: dict) -> str:
    change = r["blas_gflops"] / r["blas_gflops_end"]
    lines = [f"BLAS float32 GEMM: {r['blas_gflops']:.0f} GFLOP/s at the start, {r['blas_gflops_end']:.0f} at the end "
             "of the run; the dense limit (multiply-accumulates at the first rate) and, in brackets, each time "
             "over the dense limit at the first rate / at the second.", "",
             "| model | firing rate | dense limit | readable per-step | run, batch 1 | step by step, batch 1 "
             "| fused (Lava) | run, batch 64 (per sample-step) | first run (compile) | bit-exact |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name in ("msf_tiny", "msf_15m"):
        if name not in r:
            continue
        e = r[name]
        end = e["dense_limit_ms"] * change
        cell = lambda key: (f"{e[key]:.2f} ms ({e[key] / e['dense_limit_ms']:.1f}x / "  # noqa: E731
                            f"{e[key] / end:.1f}x)" if key in e else "-")
        lines.append(f"| {name} | {e['firing_rate']:.1%} | {e['dense_limit_ms']:.2f} ms "
                     f"| {cell('readable_per_step_ms')} | {cell('run_b1_ms')} | {cell('stepwise_b1_ms')} | {cell('fused_ms_per_step')} "
                     f"| {cell('run_batch_ms_per_sample_step')} | {e['first_run_seconds']:.1f} s "
                     f"| {'yes' if e['bit_exact'] and e.get('fused_bit_exact', True) else 'NO'} |")
    d = r["density"]
    lines += ["", "Cost against the input firing rate (ms per step; 0/1 inputs, layer-major window of 4 steps for "
              "the conv layer):", "",
              "| case | way | " + " | ".join(f"{x:.1%}" for x in d["densities"]) + " |",
              "|---|---|" + "---|" * len(d["densities"])]
    for case in ("conv", "msf_15m"):
        if case in d:
            for mode in ("event", "dense", "auto"):
                lines.append(f"| {d[case]['layer']} | {mode} | "
                             + " | ".join(f"{v:.2f}" for v in d[case]["ms_per_step"][mode]) + " |")
            lines.append(f"| {d[case]['layer']} | dense BLAS limit (start / end rate) | "
                         f"{d[case]['dense_limit_ms']:.2f} / {d[case]['dense_limit_ms'] * change:.2f} |"
                         + " |" * (len(d["densities"]) - 1))
    lines += ["", "Event-driven cost against the firing rate below the crossover, log-log slope: " + "; ".join(
        f"{case} {d[case]['event_slope']:.2f}" for case in ("conv", "msf_15m") if case in d) + " (1 = proportional).",
              "", "| target | met |", "|---|---|"]
    lines += [f"| {k} | {'yes' if v else 'no'} |" for k, v in {**r["targets"], **r.get("ratio_targets", {})}.items()]
    return "\n".join(lines)


# 6. batched Lava -----------------------------------------------------------------------------

BATCHES = (1, 8, 64)
BATCHED_NET = Path("netx_models/msf_tiny-digits.net")


def batched_lava(waves: int) -> list:
    """msf_tiny (the shipped trained file) per sample-step at each batch B: the
    reference executor on batches of B, and one Lava run of `waves` waves of B
    samples on the fused process and on the graph, after a warm-up run. Lava's
    time is per sample-step of the run as a whole (its pipeline fill and
    drain included) and in steady state (per Lava step / B)."""
    from lava_msf.netfile import read_net

    net = read_net(BATCHED_NET)
    split = load_dataset("digits", "test", net.layers[0].shape[1])
    rows = []
    for batch in BATCHES:
        frames = network_inputs(net, split.x[:batch * waves])
        sample_steps = len(frames) * net.timesteps
        executor = Executor(net)
        executor.run(frames[:batch])  # warm-up
        reference, seconds = best_seconds(
            lambda: np.concatenate([executor.run(frames[i:i + batch]) for i in range(0, len(frames), batch)]))
        row = {"batch": batch, "samples": len(frames), "timesteps": net.timesteps,
               "reference_ms": per_step_ms(seconds, sample_steps)}
        for backend, key in (("lava-cpu-fused", "fused"), ("lava-cpu", "graph")):
            with LavaRunner(net, backend, batch_samples=len(frames), batch=batch) as runner:
                runner.run(frames[:batch])  # compile, warm-up
                steps = runner.steps
                (readout, _), wall = best_seconds(runner.run, frames)
                steps = (runner.steps - steps) // REPEATS
            row.update({f"{key}_ms": per_step_ms(wall, sample_steps),
                        f"{key}_steady_ms": per_step_ms(wall, steps * batch), f"{key}_lava_steps": steps,
                        f"{key}_vs_reference": per_step_ms(wall, sample_steps) / row["reference_ms"],
                        f"{key}_steady_vs_reference": per_step_ms(wall, steps * batch) / row["reference_ms"],
                        f"{key}_bit_exact": bool(np.array_equal(readout, reference))})
        rows.append(row)
        tqdm.write(json.dumps(row))
    return rows


def batched_table(rows: list) -> list:
    lines = ["### Batched Lava: msf_tiny per sample-step (ms)", "",
             "Lava times are whole runs (pipeline fill and drain included; in brackets: steady state, "
             "per Lava step / B); ratios to the reference executor at the same batch, in the same run.", "",
             "| batch | samples | reference | fused | Lava graph | fused / ref | graph / ref | bit-exact |",
             "|---|---|---|---|---|---|---|---|"]
    for b in rows:
        lines.append(f"| {b['batch']} | {b['samples']} | {b['reference_ms']:.2f} "
                     f"| {b['fused_ms']:.2f} ({b['fused_steady_ms']:.2f}) | {b['graph_ms']:.2f} "
                     f"({b['graph_steady_ms']:.2f}) | {b['fused_vs_reference']:.2f}x "
                     f"({b['fused_steady_vs_reference']:.2f}x) | {b['graph_vs_reference']:.2f}x "
                     f"({b['graph_steady_vs_reference']:.2f}x) "
                     f"| {'yes' if b['graph_bit_exact'] and b['fused_bit_exact'] else 'NO'} |")
    return lines


# report ----------------------------------------------------------------------------------------

def tables(r: dict) -> str:
    lines = ["### Per model step (ms), batch 1", "",
             "| model | weights | layers | tokens (stage 3) | Lava processes | Lava graph | fused | reference "
             "| torch eval | graph / ref | fused / ref | bit-exact |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for n in r["network"]:
        lines.append(f"| {n['model']} | {n['weights']} | {n['layers']} | {n['tokens']} | {n['graph_processes']} "
                     f"| {n['graph_ms_per_step']:.1f} | {n['fused_ms_per_step']:.1f} | {n['reference_ms']:.1f} "
                     f"| {n['torch_eval_ms']:.1f} | {n['graph_vs_reference']:.2f}x | {n['fused_vs_reference']:.2f}x "
                     f"| {'yes' if n['graph_bit_exact'] and n['fused_bit_exact'] else 'NO'} |")
    c = r["conv"]
    lines += ["", "### Conv layer in Lava (ms per step)", "",
              "| layer | Lava stock Conv | project Conv | speed-up | bit-exact |", "|---|---|---|---|---|",
              f"| {c['layer']} | {c['lava_stock_ms_per_step']:.1f} | {c['project_ms_per_step']:.2f} "
              f"| {c['speedup']:.0f}x | {'yes' if c['bit_exact'] else 'NO'} |",
              "", "### SDSA process step (ms), 8 heads, 20% spikes", "",
              "| variant | " + " | ".join(f"N={row['tokens']}, D={row['channels']}" for row in r["sdsa"]
                                          if row["variant"] == "v2") + " |",
              "|---|" + "---|" * sum(row["variant"] == "v2" for row in r["sdsa"])]
    for variant, exp in r["sdsa_growth"].items():
        cells = [f"{row['ms_per_step']:.3f}" for row in r["sdsa"] if row["variant"] == variant]
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    lines += ["", "Growth exponents e (cost ~ size^e; whole range / two largest sizes): " + "; ".join(
        f"{v}: tokens {e['tokens']:.2f} / {e['tokens_large']:.2f}, channels {e['channels']:.2f} / "
        f"{e['channels_large']:.2f}" for v, e in r["sdsa_growth"].items()),
        "", "### Training (CPU)", "", "| model | batch | samples/s | torch threads |", "|---|---|---|---|"]
    lines += [f"| {t['model']} | {t['batch_size']} | {t['samples_per_second']:.1f} | {t['threads']} |"
              for t in r["training"]]
    return "\n".join(lines + [""] + batched_table(r["batched"]))


def write_doc(body: str, begin: str = TABLES_BEGIN, end: str = TABLES_END) -> None:
    """Replace the generated tables between `begin` and `end` in docs/performance.md, keep the prose."""
    text = DOC.read_text()
    if begin not in text or end not in text:
        raise SystemExit(f"{DOC}: markers {begin} / {end} missing")
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    write_text(DOC, f"{head}{begin}\n{body}\n{end}{tail}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default="runs/pipeline/best.pt",
                   help="trained msf_tiny (default: the main job's; untrained if absent)")
    p.add_argument("--samples", type=int, default=16, help="digits test samples per network measurement")
    p.add_argument("--quick", action="store_true", help="msf_tiny only, fewer repeats (a smoke run)")
    p.add_argument("--executor", action="store_true",
                   help="only the executor section (5): writes docs/results/executor.json and its plot")
    p.add_argument("--result", default="docs/results/performance.json")
    p.add_argument("--batched", action="store_true", help="only the batched-Lava table (section 6); "
                   "writes docs/results/performance-batched.json")
    p.add_argument("--waves", type=int, default=4, help="batches per Lava run in section 6")
    ns = p.parse_args()
    if ns.executor:
        r = executor_section(ns.quick)
        print(executor_tables(r))
        print(json.dumps(r["targets"], indent=2))
        if not ns.quick:
            write_text("docs/results/executor.json", json.dumps(r, indent=2) + "\n")
            density_plot(r["density"], r["blas_gflops"] / r["blas_gflops_end"])
            write_doc(executor_tables(r), EXECUTOR_BEGIN, EXECUTOR_END)
        return 0 if all(r["targets"].values()) else 1
    if ns.batched:
        rows = batched_lava(ns.waves)
        print("\n".join(batched_table(rows)))
        write_text(Path(ns.result).with_name("performance-batched.json"), json.dumps(rows, indent=2) + "\n")
        return 0 if all(b["graph_bit_exact"] and b["fused_bit_exact"] for b in rows) else 1
    checkpoint = ns.checkpoint if Path(ns.checkpoint).is_file() else None
    splits = {}

    def data(img_size):
        if img_size not in splits:
            splits[img_size] = load_dataset("digits", "test", img_size)
        return splits[img_size]

    variants = {"msf_tiny": {}} if ns.quick else VARIANTS
    r = {"machine": {"cpus": os.cpu_count(), "numpy": np.__version__, "torch": torch.__version__},
         "network": []}
    for name, variant in tqdm(variants.items(), desc="network per step", unit="model"):
        r["network"].append(network_step(name, variant, checkpoint, ns.samples, data))
        tqdm.write(json.dumps(r["network"][-1]))
    r["conv"] = conv_layer(steps=5 if ns.quick else 20)
    print(json.dumps(r["conv"]), flush=True)
    r["sdsa"] = sdsa_scaling(repeats=5 if ns.quick else 30)
    r["sdsa_growth"] = sdsa_exponents(r["sdsa"])
    print(json.dumps(r["sdsa_growth"]), flush=True)
    r["training"] = training(samples=64 if ns.quick else 256)
    print(json.dumps(r["training"]), flush=True)
    r["batched"] = batched_lava(1 if ns.quick else ns.waves)
    base = r["network"][0]
    r["targets"] = {"graph_vs_reference <= 3": base["graph_vs_reference"] <= 3,
                    "fused_vs_reference <= 1.2": base["fused_vs_reference"] <= 1.2,
                    "conv speed-up >= 20": r["conv"]["speedup"] >= 20,
                    "batch 64: graph_vs_reference <= 3": r["batched"][-1]["graph_vs_reference"] <= 3,
                    "batch 64: fused_vs_reference <= 1.2": r["batched"][-1]["fused_vs_reference"] <= 1.2,
                    "all bit-exact": all(n["graph_bit_exact"] and n["fused_bit_exact"] for n in r["network"])
                    and r["conv"]["bit_exact"]}
    print(tables(r))
    print(json.dumps(r["targets"], indent=2))
    if not ns.quick:
        write_text(ns.result, json.dumps(r, indent=2) + "\n")
        write_doc(tables(r))
    return 0 if all(r["targets"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
