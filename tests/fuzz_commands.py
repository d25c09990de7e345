"""Fuzzing past the reader: every command on mutated .net files (tests/test_fuzz_commands.py).

    python tests/fuzz_commands.py CASES [SEED]

Each case changes one key of a small valid network file (a dataset of a layer
or its neuron group, or a top-level attribute, or a field of `meta`) to a
hostile value: zero, negative, huge, inf/NaN, another type or shape. A file
the reader refuses must give `inspect` exit 2 with one error line. A file it
accepts goes through every command that consumes a network: inspect, check,
run on each backend, report and stream. Each command runs in its own session
under an address-space limit and a time limit; it must end with exit 0, or
exit 2 with one `lava-msf: error:` line and no traceback, and leave no process
behind. Prints one JSON line of counts per command; exits 1 on a violation.
"""

import collections
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import psutil

from lava_msf import fixedpoint as fx
from lava_msf.errors import LavaMsfError
from lava_msf.events import synth, write_events
from lava_msf.graph import Layer, Network
from lava_msf.netfile import read_net, write_net

ADDRESS_SPACE = 8 << 30
COMMAND_TIMEOUT_S = 240
HOSTILE = (0, 1, -1, 2, 3, 63, 2 ** 15, 2 ** 31 - 1, -2 ** 31, 2 ** 40, 2 ** 62, -2 ** 62,
           float("inf"), float("-inf"), float("nan"), 0.5, 1e30, "x", "")
META_HOSTILE = ("string", ["a", "list"], 7, None, {"nested": {}}, -1, 2 ** 62, 1e308)


def base_net() -> Network:
    """dvs-synth sized: input (2, 32, 32) -> strided conv + SN -> membrane
    shortcut merge -> SN -> SDSA -> conv -> token mean -> dense (10 classes)."""
    rng = np.random.default_rng(0)
    w = lambda *s: rng.integers(-60, 60, s) * 2  # noqa: E731
    layers = [Layer("input", "input", (2, 32, 32)),
              Layer("c1", "conv", (4, 8, 8), (0,), neuron=fx.LifParams(), weight=w(4, 2, 4, 4),
                    bias=rng.integers(-9, 9, 4), attrs={"stride": 4}),
              Layer("c2", "conv", (4, 8, 8), (1,), weight=w(4, 4, 1, 1)),
              Layer("c3", "conv", (4, 8, 8), (1,), weight=w(4, 4, 3, 3), attrs={"padding": 1}),
              Layer("merge", "merge", (4, 8, 8), (2, 3)),
              Layer("sn", "neuron", (4, 8, 8), (4,), neuron=fx.LifParams()),
              Layer("attn", "sdsa", (4, 8, 8), (5, 5, 5), neuron=fx.LifParams(vth_mant=16),
                    attrs={"variant": "v2", "heads": 2, "scale": 4}),
              Layer("c4", "conv", (4, 8, 8), (6,), weight=w(4, 4, 1, 1)),
              Layer("mean", "mean", (4, 1, 1), (7,), attrs={"scale_mant": 7, "scale_shift": 8}),
              Layer("fc", "dense", (10, 1, 1), (8,), weight=w(10, 4))]
    data = {"dataset": "dvs-synth", "bin_us": synth.DURATION_US // 4, "duration_us": synth.DURATION_US,
            "sensor_size": [32, 32, 2], "classes": list(synth.CLASSES)}
    return Network(layers, timesteps=4, meta={"input": "frames", "data": data}).validate()


def keys_of(path: Path) -> list:
    """Every mutable place: (group path, name, 'dataset'|'attr'|'meta')."""
    places = [("/", name, "attr") for name in ("timesteps", "format_version")]
    meta = json.loads(h5py.File(path, "r").attrs["meta"])
    places += [("/", f"meta.{k}.{sub}", "meta") for k, v in meta.items() if isinstance(v, dict) for sub in v]
    places += [("/", f"meta.{k}", "meta") for k in meta]

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and not name.endswith("/type"):
            places.append((str(Path("/" + name).parent), Path(name).name, "dataset"))
    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return places


def mutate(src: Path, dst: Path, rng) -> str:
    places = keys_of(src)
    group, name, kind = places[rng.integers(len(places))]
    dst.write_bytes(src.read_bytes())
    with h5py.File(dst, "r+") as f:
        if kind == "meta":
            meta = json.loads(f.attrs["meta"])
            value = META_HOSTILE[rng.integers(len(META_HOSTILE))]
            parts = name.split(".")[1:]
            (meta[parts[0]] if len(parts) == 2 else meta)[parts[-1]] = value
            f.attrs["meta"] = json.dumps(meta)
            return f"{name} = {value!r}"
        value = HOSTILE[rng.integers(len(HOSTILE))]
        if kind == "attr":
            f.attrs[name] = value if not isinstance(value, float) or np.isfinite(value) else np.float64(value)
            return f"attr {name} = {value!r}"
        old = f[group][name]
        shape = old.shape
        if isinstance(value, str):
            data = np.array([value.encode()] * max(1, int(np.prod(shape))), dtype="S16")
        elif rng.random() < 0.5 and shape:  # one element of an array
            data = old[()].astype(np.float64 if isinstance(value, float) else np.int64)
            data.flat[rng.integers(data.size)] = value
        else:
            data = np.full(shape, value)
        del f[group][name]
        f[group].create_dataset(name, data=data)
        return f"{group}/{name} = {value!r}"


def commands(net: Path, events: Path, out: Path, heavy: bool) -> dict:
    cmds = {"inspect": ["inspect", str(net), "--json"],
            "check": ["check", str(net), "--samples", "2", "--reference-samples", "2", "--json"],
            "run reference": ["run", str(net), "--backend", "reference", "--samples", "2", "--json"],
            "run lava-cpu-fused": ["run", str(net), "--backend", "lava-cpu-fused", "--samples", "2",
                                   "--no-progress", "--json", "--out", str(out)],
            "report": ["report", str(net), "--samples", "2", "--no-progress", "--json"],
            "stream": ["stream", str(net), "--events", str(events), "--backend", "lava-cpu-fused", "--quiet",
                       "--json"]}
    if heavy:  # a Lava process per layer: every few cases
        cmds["run lava-cpu"] = ["run", str(net), "--backend", "lava-cpu", "--samples", "1", "--no-progress", "--json"]
        cmds["run lava-cpu-decomposed"] = ["run", str(net), "--backend", "lava-cpu-decomposed", "--samples", "1",
                                           "--no-progress", "--json"]
    return cmds


def _limit():
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def run_command(args: list) -> tuple:
    """(rc, error lines, stderr tail, stdout); the command runs in a session of its own."""
    proc = subprocess.Popen([sys.executable, "-m", "lava_msf", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_limit, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=COMMAND_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.communicate()
        return "hang", [], "", ""
    deadline = time.time() + 10
    while time.time() < deadline and _session_alive(proc.pid):
        time.sleep(0.2)
    if _session_alive(proc.pid):
        os.killpg(proc.pid, 9)
        return "orphans", [], err[-2000:], out
    return proc.returncode, [ln for ln in err.splitlines() if ln.startswith("lava-msf: error:")], err[-2000:], out


def _agrees(name: str, stdout: str) -> bool:
    """An accepted value gives the same result on every backend (no silent wrong answer)."""
    if name.startswith("run") or name == "check":
        return json.loads(stdout)["reference_agreement"] == 1.0
    return True


def _session_alive(sid: int) -> bool:
    for p in psutil.process_iter(["pid"]):
        try:
            if os.getsid(p.info["pid"]) == sid:
                return True
        except (ProcessLookupError, PermissionError):
            continue
    return False


def main() -> int:
    cases = int(sys.argv[1])
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    with tempfile.TemporaryDirectory(prefix="lava-msf-cmdfuzz-") as tmp:
        return fuzz(cases, seed, Path(tmp))


def fuzz(cases: int, seed: int, work: Path) -> int:
    base = work / "base.net"
    write_net(base_net(), base)
    events = work / "rec.npz"
    write_events(events, synth.recording(3, seed=0, split="test", index=0), synth.sensor_size(32))
    counts = collections.defaultdict(collections.Counter)
    rng = np.random.default_rng(seed)
    accepted = 0
    for case in range(cases + 1):
        net = work / f"case{case}.net"
        what = "unmutated" if case == 0 else mutate(base, net, rng)
        if case == 0:
            net.write_bytes(base.read_bytes())
        try:
            read_net(net)
            ok_read = True
        except LavaMsfError:
            ok_read = False
        out = work / "out.json"
        out.write_text("previous")
        todo = commands(net, events, out, heavy=accepted % 4 == 0) if ok_read else {"inspect": ["inspect", str(net)]}
        accepted += ok_read
        for name, args in todo.items():
            rc, errors, tail, stdout = run_command(args)
            good = (rc == 0 and ok_read and _agrees(name, stdout)) or (
                rc == 2 and len(errors) == 1 and "Traceback" not in tail)
            if not good:
                print(json.dumps({"case": case, "mutation": what, "command": name, "rc": rc, "errors": errors,
                                  "stderr": tail}))
                return 1
            if rc == 2 and name == "run lava-cpu-fused" and out.read_text() != "previous":
                print(json.dumps({"case": case, "mutation": what, "command": name, "rc": rc,
                                  "stderr": "a failed run touched --out"}))
                return 1
            counts[name]["ok" if rc == 0 else "error"] += 1
        net.unlink()
    print(json.dumps({"cases": cases + 1, "accepted": accepted, "commands": counts}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
