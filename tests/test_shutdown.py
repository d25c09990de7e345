"""Clean shutdown: an error or a KeyboardInterrupt at any phase of a Lava run
(compile, run, readout, stop) leaves no child process, no thread and no
shared-memory segment behind, checked on the process table; an interrupted
CLI run leaves its output file as it was."""

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import psutil
import pytest

from lava_msf.export import export_network
from lava_msf.netfile import write_net
from lava_msf.reference import Executor
from lava_msf.runtime import LavaRunner
from lava_msf.runtime.runner import LavaRunError, LavaSession
from lava_msf.runtime.stream import StreamRunner

from conftest import warmed_model
from test_lava_runtime import digits_frames


@pytest.fixture(scope="module")
def micro():
    return export_network(warmed_model("msf_micro", timesteps=2))


def _shm() -> set:
    return {name for name in os.listdir("/dev/shm") if name.startswith("psm_")}


def _lava_children() -> list:
    """Descendants of this process other than multiprocessing's resource tracker
    (one per interpreter, started with the first shared memory, by design)."""
    kids = psutil.Process().children(recursive=True)
    return [p for p in kids if "resource_tracker" not in " ".join(_cmdline(p))]


def _cmdline(p) -> list:
    try:
        return p.cmdline()
    except psutil.Error:
        return []


def assert_clean(shm_before: set, threads_before: int) -> None:
    deadline = time.time() + 15
    while (_lava_children() or _shm() - shm_before) and time.time() < deadline:
        time.sleep(0.1)
    assert _lava_children() == []
    assert _shm() - shm_before == set()  # the runtime's shared memory is released
    deadline = time.time() + 5
    while len(_threads()) > threads_before and time.time() < deadline:
        time.sleep(0.05)
    assert len(_threads()) <= threads_before, _threads()


def _threads() -> list:
    """Live threads but tqdm's monitor (one per interpreter, by design)."""
    return [t.name for t in threading.enumerate() if t.name != "tqdm_monitor"]


def _raise_after(cls, name, exc):
    """cls.name that does its work, then raises exc (the phase's failure)."""
    original = getattr(cls, name)

    def wrapped(self, *args, **kwargs):
        original(self, *args, **kwargs)
        raise exc

    return wrapped


PHASES = {
    # compile: Lava compiles and forks the process models, then fails
    "compile": (LavaSession, "_start"),
    # run: the non-blocking run has begun, no frame sent yet
    "run": (LavaSession, "_begin_run"),
    # readout: every output read, the run not yet waited for
    "readout": (LavaRunner, "_exchange"),
    # stop: the run finished, before the next batch
    "stop": (LavaSession, "_end_run"),
}


@pytest.mark.slow
@pytest.mark.parametrize("exc", [RuntimeError("injected"), KeyboardInterrupt()], ids=["error", "ctrl-c"])
@pytest.mark.parametrize("phase", PHASES)
def test_batch_run_failure_at_any_phase_leaves_nothing(micro, phase, exc, monkeypatch):
    frames = digits_frames(micro, 4)
    shm, threads = _shm(), len(_threads())
    cls, name = PHASES[phase]
    monkeypatch.setattr(cls, name, _raise_after(cls, name, exc))
    expected = KeyboardInterrupt if isinstance(exc, KeyboardInterrupt) else LavaRunError
    with pytest.raises(expected):
        with LavaRunner(micro, "lava-cpu", batch_samples=2) as runner:
            runner.run(frames)
    assert_clean(shm, threads)
    monkeypatch.undo()
    # the next run in the same interpreter works and is exact
    with LavaRunner(micro, "lava-cpu", batch_samples=2) as runner:
        got, _ = runner.run(frames)
    assert np.array_equal(got, Executor(micro).run(frames))
    assert_clean(shm, threads)


@pytest.mark.slow
@pytest.mark.parametrize("exc", [RuntimeError("injected"), KeyboardInterrupt()], ids=["error", "ctrl-c"])
@pytest.mark.parametrize("backend", ["lava-cpu", "lava-cpu-fused"])
def test_stream_failure_mid_run_leaves_nothing(micro, backend, exc, monkeypatch):
    frames = digits_frames(micro, 1)[0]
    shm, threads = _shm(), len(_threads())
    calls, end_run = [], LavaSession._end_run

    def failing_end_run(self, steps):  # the second segment's end fails
        calls.append(steps)
        if len(calls) == 2:
            raise exc
        return end_run(self, steps)

    monkeypatch.setattr(LavaSession, "_end_run", failing_end_run)
    expected = KeyboardInterrupt if isinstance(exc, KeyboardInterrupt) else LavaRunError
    with pytest.raises(expected):
        with StreamRunner(micro, backend, reset_interval=2, segment=2) as runner:
            for _ in range(5):
                for t in range(frames.shape[-1]):
                    runner.step(frames[..., t])
    assert len(calls) == 2
    assert_clean(shm, threads)


def _group_members(pgid):
    members = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.getpgid(int(pid)) == pgid:
                members.append(int(pid))
        except ProcessLookupError:
            pass
    return members


def _run_cli(args):
    return subprocess.Popen([sys.executable, "-m", "lava_msf", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


@pytest.mark.slow
@pytest.mark.parametrize("when", ["compile", "run"])
def test_ctrl_c_leaves_no_process_and_the_old_output(micro, tmp_path, when):
    """SIGINT to the process group (a terminal's Ctrl-C) while Lava forks its
    process models, or mid-run: exit 130, the process table holds none of the
    run's processes, and --out still holds the previous result."""
    net, out = tmp_path / "micro.net", tmp_path / "result.json"
    write_net(micro, net)
    out.write_text('{"previous": true}\n')
    proc = _run_cli(["run", str(net), "--samples", "300", "--batch", "4", "--no-progress", "--out", str(out)])
    try:
        deadline = time.time() + 120
        # compile: the first process models are forking; run: all of them are up
        wanted = 2 if when == "compile" else 20
        while len(_group_members(proc.pid)) < wanted:
            assert proc.poll() is None and time.time() < deadline, proc.communicate()
            time.sleep(0.02)
        if when == "run":
            time.sleep(2)
        members = _group_members(proc.pid)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err[-3000:]
    assert "interrupted" in err and "Traceback" not in err
    deadline = time.time() + 15
    while _group_members(proc.pid) and time.time() < deadline:
        time.sleep(0.2)
    assert _group_members(proc.pid) == [] and not any(psutil.pid_exists(p) and
                                                       psutil.Process(p).status() != psutil.STATUS_ZOMBIE
                                                       for p in members)
    assert out.read_text() == '{"previous": true}\n'
    assert [p.name for p in tmp_path.iterdir()] and not list(tmp_path.glob(".*.tmp"))


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["lava-cpu", "lava-cpu-fused", "lava-cpu-decomposed"])
def test_repeated_sessions_release_their_processes(micro, backend):
    """Lava's ProcessServer and VarServer keep every process and Var ever built;
    a closed session takes its own out, so that build/run/stop cycles do not
    accumulate graphs (the soak measured 23 MB per msf_tiny cycle before)."""
    import gc

    from lava.magma.core.process.process import AbstractProcess, ProcessServer
    from lava.magma.core.process.variable import VarServer

    frames = digits_frames(micro, 2)
    counts = []
    for _ in range(3):
        with LavaRunner(micro, backend, batch_samples=2) as runner:
            runner.run(frames)
        del runner
        gc.collect()
        counts.append((len(ProcessServer().processes), len(VarServer().vars),
                       sum(isinstance(o, AbstractProcess) for o in gc.get_objects())))
    assert counts[0] == counts[1] == counts[2], counts
