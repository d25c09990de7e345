"""`lava-msf run`: results as text and JSON, typed errors, and Ctrl-C in the
middle of a Lava run: exit 130, no process of the run left behind."""

import json
import os
import signal
import subprocess
import sys
import time

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
])
def test_run_bad_options(micro_net, args, words):
    proc = cli("run", str(micro_net), *args)
    assert proc.returncode == 2
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("lava-msf: error:")]
    assert len(errors) == 1 and all(w in errors[0] for w in words) and "Traceback" not in proc.stderr


def _group_members(pgid):
    members = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.getpgid(int(pid)) == pgid:
                members.append(int(pid))
        except ProcessLookupError:
            pass
    return members


def test_ctrl_c_mid_run_leaves_no_process(micro_net):
    proc = subprocess.Popen([sys.executable, "-m", "lava_msf", "run", str(micro_net), "--samples", "300",
                             "--batch", "4", "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        deadline = time.time() + 120
        while len(_group_members(proc.pid)) < 20:  # Lava has forked its process models
            assert proc.poll() is None and time.time() < deadline, proc.communicate()
            time.sleep(0.2)
        time.sleep(2)  # well inside a run
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err[-3000:]
    assert "interrupted" in err and "Traceback" not in err
    deadline = time.time() + 15
    while _group_members(proc.pid) and time.time() < deadline:
        time.sleep(0.2)
    assert _group_members(proc.pid) == []
