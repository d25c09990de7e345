"""Fuzzing past the reader (tests/fuzz_commands.py): mutated network files through
every command that consumes one, each command in its own session under an
address-space and a time limit. Exit 0 with results that agree with the
reference executor, or exit 2 with one error line; no traceback, no process
left behind, a failed run leaves --out untouched."""

import json
import subprocess
import sys

import pytest

from conftest import REPO

CASES = 8


@pytest.mark.slow
def test_every_command_on_fuzzed_network_files():
    proc = subprocess.run([sys.executable, str(REPO / "tests" / "fuzz_commands.py"), str(CASES)],
                          capture_output=True, text=True, timeout=3000, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["cases"] == CASES + 1 and summary["accepted"] >= 2  # the unmutated file and at least one more
    assert summary["commands"]["run lava-cpu"]["ok"] >= 1 and summary["commands"]["stream"]["ok"] >= 1
