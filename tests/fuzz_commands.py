"""Fuzzing past the reader: every command on mutated .net and input files
(tests/test_fuzz_commands.py; the long run writes docs/results/fuzz_commands.json).

    python tests/fuzz_commands.py CASES [SEED] [--seeds NAME,...] [--json OUT]

The seeds (tests/fuzz_cases.py) are a dvs-synth network run on its dataset, small
networks holding every NetX key and layer type lava-msf added (input transform,
LOIHI and SDNN neurons, delays, dense_rec, average, pool, convT, unpool, concat,
(y, x) geometry, dilation, groups) and the 6 NetX files lava-dl ships. Case 0..S-1
are the seeds unmutated; then each case takes a seed and either changes, deletes
or adds one key of its .net file (a dataset of a layer or its neuron group, a
top-level attribute, a field of `meta`), or, for a seed run on an array file,
makes a hostile `--inputs` file (dtypes, NaN, huge declared shapes, wrong rank,
pickled objects, truncation, HDF5 links...). A .net file the reader refuses must
give `inspect` exit 2 with one error line naming the file. One it accepts goes
through every command that consumes it: inspect, then check, run, report and
stream for the dataset seed, `run --inputs` on each backend for the others.
Each command runs in its own session under an address-space limit and a time
limit; it must end with exit 0 and a result equal to the reference executor's,
or exit 2 with one `lava-msf: error:` line naming a file (and no traceback),
leave no process, no output file and no temporary behind, and change no input
file; nothing is ever unpickled. Prints one JSON line of counts per command, per
mutated key and per input kind, and the violations (each also on stderr as it
happens); exits 1 if there was one.
"""

import argparse
import collections
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

import fuzz_cases as fc
from lava_msf.errors import LavaMsfError
from lava_msf.events import synth, write_events
from lava_msf.netfile import read_net

ADDRESS_SPACE = 8 << 30
COMMAND_TIMEOUT_S = 240
MAX_FRAME_VALUES = 1 << 22  # a mutated input shape beyond this keeps the seed's frames (and must be refused)


def dataset_commands(net: Path, events: Path, out: Path, heavy: bool) -> dict:
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


def inputs_commands(net: Path, inputs: Path, work: Path, heavy: bool) -> dict:
    backends = ["reference", "lava-cpu-fused"] + (["lava-cpu", "lava-cpu-decomposed"] if heavy else [])
    cmds = {"inspect": ["inspect", str(net), "--json"]}
    for b in backends:
        cmds[f"run --inputs {b}"] = ["run", str(net), "--inputs", str(inputs), "--backend", b, "--no-progress",
                                     "--json", "--out", str(work / f"out-{b}.npz")]
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


def _session_alive(sid: int) -> bool:
    for p in psutil.process_iter(["pid"]):
        try:
            if os.getsid(p.info["pid"]) == sid:
                return True
        except (ProcessLookupError, PermissionError):
            continue
    return False


def _digest(paths) -> dict:
    return {str(p): hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths if Path(p).is_file()}


def _outputs_agree(work: Path, name: str) -> str | None:
    """A `run --inputs` on a Lava backend wrote what the reference wrote."""
    backend = name.rsplit(" ", 1)[1]
    ref, got = work / "out-reference.npz", work / f"out-{backend}.npz"
    if backend == "reference" or not ref.is_file():
        return None
    with np.load(ref, allow_pickle=False) as a, np.load(got, allow_pickle=False) as b:
        if sorted(a.files) != sorted(b.files) or any(not np.array_equal(a[k], b[k]) for k in a.files):
            return f"{backend} differs from the reference"
    return None


def _violation(name, rc, errors, tail, stdout, ok_read, files, work) -> str | None:
    if rc == 0:
        if not ok_read:
            return "exit 0 on a file the reader refuses"
        if (name.startswith("run ") and "--inputs" not in name) or name == "check":
            if json.loads(stdout)["reference_agreement"] != 1.0:
                return "disagrees with the reference"
        if "--inputs" in name:
            return _outputs_agree(work, name)
        return None
    if rc != 2 or len(errors) != 1 or "Traceback" in tail:
        return "not exit 2 with one error line"
    if not any(Path(p).name in errors[0] for p in files) and "layer" not in errors[0]:
        return "the error line names no file and no layer"
    return None


def fuzz(cases: int, seed: int, work: Path, names=None) -> dict:
    seeds = fc.seeds(work, names)
    events = work / "rec.npz"
    write_events(events, synth.recording(3, seed=0, split="test", index=0), synth.sensor_size(32))
    commands = collections.defaultdict(collections.Counter)
    keys = collections.defaultdict(collections.Counter)
    kinds = collections.defaultdict(collections.Counter)
    per_seed = collections.defaultdict(collections.Counter)
    errors_seen, violations = {}, []
    rng = np.random.default_rng(seed)
    accepted = 0
    for case in range(len(seeds) + cases):
        name, kind, base = seeds[case] if case < len(seeds) else seeds[rng.integers(len(seeds))]
        net = work / "case.net"
        inputs = None
        if case < len(seeds):
            net.write_bytes(base.read_bytes())
            what, key = "unmutated", None
        elif kind == "inputs" and rng.random() < 0.4:
            net.write_bytes(base.read_bytes())
            key = None
        else:
            what, key = fc.mutate_net(base, net, rng)
        try:
            parsed = read_net(net)
            ok_read = True
        except LavaMsfError:
            parsed, ok_read = None, False
        if kind == "inputs" and ok_read:
            layer = parsed.layers[0]
            x = fc.frames(layer.shape if np.prod(layer.shape) * 4 <= MAX_FRAME_VALUES else (1, 1, 1),
                          layer.neuron is not None, seed=case)
            if key is None and case >= len(seeds):
                inputs, what, input_kind = fc.mutate_inputs(x, work, rng)
                kinds[input_kind]["cases"] += 1
            else:
                inputs = work / "in.npy"
                np.save(inputs, x)
        heavy = accepted % 4 == 0
        accepted += ok_read
        per_seed[name]["cases"] += 1
        per_seed[name]["accepted"] += ok_read
        if key is not None:
            keys[key]["accepted" if ok_read else "refused"] += 1
        out = work / "out.json"
        out.write_text("previous")
        if not ok_read:
            todo = {"inspect": ["inspect", str(net)]}
        elif kind == "dataset":
            todo = dataset_commands(net, events, out, heavy)
        else:
            todo = inputs_commands(net, inputs, work, heavy)
        files = [net] + ([inputs] if inputs is not None else []) + ([events] if kind == "dataset" else [])
        for command, args in todo.items():
            before = _digest(files)
            listing = set(work.iterdir())
            rc, errors, tail, stdout = run_command(args)
            problem = _violation(command, rc, errors, tail, stdout, ok_read, files, work)
            if _digest(files) != before:
                problem = "an input file changed"
            if (work / fc.PICKLE_MARKER).exists():
                problem = "a pickled payload ran"
            new = set(work.iterdir()) - listing
            allowed = {work / f"out-{command.rsplit(' ', 1)[1]}.npz"} if rc == 0 and "--inputs" in command else set()
            if new - allowed:
                problem = f"left behind {sorted(p.name for p in new - allowed)}"
            if rc == 2 and command == "run lava-cpu-fused" and out.read_text() != "previous":
                problem = "a failed run touched --out"
            if problem:  # recorded; the run goes on (and exits 1)
                violations.append({"violation": problem, "case": case, "seed": name, "mutation": what,
                                   "command": command, "rc": rc, "errors": errors, "stderr": tail})
                print(json.dumps(violations[-1]), file=sys.stderr, flush=True)
                commands[command]["other"] += 1
                if inputs is not None and key is None and case >= len(seeds) and "--inputs" in command:
                    kinds[input_kind]["other"] += 1
                (work / fc.PICKLE_MARKER).unlink(missing_ok=True)
                continue
            commands[command]["ok" if rc == 0 else "error"] += 1
            if inputs is not None and key is None and case >= len(seeds) and "--inputs" in command:
                kinds[input_kind]["ok" if rc == 0 else "error"] += 1
            if rc == 2:
                errors_seen.setdefault(errors[0].split(": ")[-1][:60], errors[0].replace(str(work), "WORK")[:300])
        for p in work.glob("out-*.npz"):
            p.unlink()
        if inputs is not None:
            inputs.unlink()
    return {"cases": len(seeds) + cases, "accepted": accepted, "seed": seed, "seeds": per_seed,
            "commands": commands, "keys": keys, "input_kinds": kinds,
            "error_examples": sorted(errors_seen.values())[:40], "violations": violations}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("cases", type=int)
    p.add_argument("seed", type=int, nargs="?", default=0)
    p.add_argument("--seeds", default=None, help="comma-separated seed names (tests/fuzz_cases.py)")
    p.add_argument("--json", default=None, help="also write the counts to this file")
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="lava-msf-cmdfuzz-") as tmp:
        result = fuzz(a.cases, a.seed, Path(tmp), a.seeds.split(",") if a.seeds else None)
    print(json.dumps(result))
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return 1 if result["violations"] else 0


if __name__ == "__main__":
    sys.exit(main())
