"""Hostile input: property-based fuzzing (hypothesis) of the .net loader (also on
the NetX seeds of tests/fuzz_cases.py: lava-dl's files and every NetX key lava-msf
added), of `run --inputs` array files and of every event reader, each in its own
process (tests/fuzz_worker.py), so that a
crash of the interpreter or a hang fails the test instead of the suite. The
worker runs under an address-space limit: a size field that drives an
allocation fails it with a MemoryError."""

import json
import subprocess
import sys

import pytest

from conftest import REPO

EXAMPLES = {"netx": 120}  # its seeds are up to 2.7 MB and run two reference steps
DEFAULT_EXAMPLES = 300
TIMEOUT_S = 600
TARGETS = ("net", "netx", "inputs", "npz", "h5", "bin", "dat", "evt2", "evt3", "aedat4")
ERRORS = {"net": "NetFileError", "netx": "NetFileError", "inputs": "InputFileError"}


@pytest.mark.slow
@pytest.mark.parametrize("target", TARGETS)
def test_fuzzed_files_end_in_a_typed_error_or_a_valid_result(target):
    examples = EXAMPLES.get(target, DEFAULT_EXAMPLES)
    try:
        proc = subprocess.run([sys.executable, str(REPO / "tests" / "fuzz_worker.py"), target, str(examples)],
                              capture_output=True, text=True, timeout=TIMEOUT_S, cwd=REPO)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{target}: fuzzing hung (no end within {TIMEOUT_S} s)")
    assert proc.returncode == 0, f"{target}: rc {proc.returncode}\n{proc.stderr[-4000:]}"
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["examples"] == examples + 1  # the unmutated file(s), then the fuzzed ones
    errors = {k: v for k, v in summary.items() if k.startswith("error:")}
    assert set(errors) == {"error:" + ERRORS.get(target, "EventFormatError")}
    assert summary["valid"] >= 1 and sum(errors.values()) + summary["valid"] == summary["examples"]
