"""Fuzzing past the reader (tests/fuzz_commands.py): mutated network and input
files through every command that consumes them, each command in its own session
under an address-space and a time limit. Exit 0 with results equal to the
reference executor's, or exit 2 with one error line naming a file or layer; no
traceback, no process, output or temporary left behind, no input changed, nothing
unpickled. The suite runs a seeded sample on the array-file seeds (each command
a second or two); the long run (docs/reliability.md) is the same command with
more cases and every seed, the dvs-synth one through check, report and stream
(each of those imports torch: 10 to 20 s a command on the shared machine)."""

import json
import subprocess
import sys

import pytest

from conftest import REPO

CASES = 3
SEEDS = "lif,sdnn,dense-prediction,netx-tiny"


@pytest.mark.slow
def test_every_command_on_fuzzed_network_and_input_files():
    proc = subprocess.run([sys.executable, str(REPO / "tests" / "fuzz_commands.py"), str(CASES), "0",
                           "--seeds", SEEDS], capture_output=True, text=True, timeout=3000, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    seeds = SEEDS.split(",")
    assert summary["cases"] == len(seeds) + CASES
    # every seed unmutated runs through every command, on every backend for its first case
    assert all(summary["seeds"][s]["accepted"] >= 1 for s in seeds)
    commands = summary["commands"]
    assert commands["run --inputs lava-cpu"]["ok"] >= 1 and commands["run --inputs reference"]["ok"] >= len(seeds)
    assert commands["run --inputs lava-cpu-fused"]["ok"] >= len(seeds) - 1
    assert commands["inspect"]["error"] >= 1  # at least one mutation refused at read
