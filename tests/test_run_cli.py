"""`lava-msf run`: results as text and JSON, and typed errors (Ctrl-C and the
process table: test_shutdown.py)."""

import json
import subprocess
import sys

import pytest

from lava_msf.export import export_network
from lava_msf.netfile import write_net

from conftest import warmed_model


def cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "lava_msf", *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def micro_net(tmp_path_factory):
    path = tmp_path_factory.mktemp("net") / "micro.net"
    write_net(export_network(warmed_model("msf_micro", timesteps=2)), path)
    return path


@pytest.mark.parametrize("backend", ["lava-cpu", "reference"])
def test_run_json_reports_exact_agreement(micro_net, backend):
    proc = cli("run", str(micro_net), "--samples", "3", "--batch", "2", "--backend", backend, "--json")
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert r["backend"] == backend and r["samples"] == 3
    assert r["reference_agreement"] == 1.0 and r["max_abs_difference"] == 0
    assert r["accuracy"] == r["reference_accuracy"]
    if backend == "lava-cpu":
        assert r["lava_steps"] > 3 * 2 and r["steps_per_second"] > 0


def test_run_text_and_float_backend(micro_net):
    proc = cli("run", str(micro_net), "--samples", "2", "--backend", "lava-cpu-float", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "backend lava-cpu-float" in proc.stdout and "agreement with the reference executor" in proc.stdout


@pytest.mark.parametrize("args, words", [
    (["--backend", "loihi9"], ["unknown backend", "loihi9"]),
    (["--samples", "0"], ["--samples"]),
    (["--samples", "2", "--backend", "lava-cpu-decomposed", "--batch", "2"], ["one sample per Lava step", "batch 1"]),
])
def test_run_bad_options(micro_net, args, words):
    proc = cli("run", str(micro_net), *args)
    assert proc.returncode == 2
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("lava-msf: error:")]
    assert len(errors) == 1 and all(w in errors[0] for w in words) and "Traceback" not in proc.stderr
