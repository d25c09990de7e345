"""Hostile input: property-based fuzzing (hypothesis) of the .net loader and of
every event reader, each in its own process (tests/fuzz_worker.py), so that a
crash of the interpreter or a hang fails the test instead of the suite. The
worker runs under an address-space limit: a size field that drives an
allocation fails it with a MemoryError."""

import json
import subprocess
import sys

import pytest

from conftest import REPO

EXAMPLES = 300
TIMEOUT_S = 600
TARGETS = ("net", "npz", "h5", "bin", "dat", "evt2", "evt3", "aedat4")


@pytest.mark.slow
@pytest.mark.parametrize("target", TARGETS)
def test_fuzzed_files_end_in_a_typed_error_or_a_valid_result(target):
    try:
        proc = subprocess.run([sys.executable, str(REPO / "tests" / "fuzz_worker.py"), target, str(EXAMPLES)],
                              capture_output=True, text=True, timeout=TIMEOUT_S, cwd=REPO)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{target}: fuzzing hung (no end within {TIMEOUT_S} s)")
    assert proc.returncode == 0, f"{target}: rc {proc.returncode}\n{proc.stderr[-4000:]}"
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["examples"] == EXAMPLES + 1  # the unmutated file, then the fuzzed ones
    errors = {k: v for k, v in summary.items() if k.startswith("error:")}
    assert set(errors) == {"error:NetFileError" if target == "net" else "error:EventFormatError"}
    assert summary["valid"] >= 1 and sum(errors.values()) + summary["valid"] == summary["examples"]
