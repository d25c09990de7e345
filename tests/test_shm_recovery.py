"""Shared memory left by a whole-process-group SIGKILL is removed by the next
Lava run (lava_msf.runtime.shm), and nothing else ever is: only names a
lava-msf session recorded, for an owner that is dead, on this machine."""

import os
import signal
import subprocess
import sys
import time
from multiprocessing.shared_memory import SharedMemory

import numpy as np
import pytest

from conftest import REPO
from lava_msf.runtime import LavaRunner, shm
from small_nets import small_net
from test_shutdown import _group_members, _segments

CHILD = """
import sys
import numpy as np
sys.path.insert(0, "tests")
from small_nets import small_net
from lava_msf.runtime import LavaRunner
x = (np.random.default_rng(0).random((2, 2, 6, 6, 3)) < 0.5).astype(np.int64)
with LavaRunner(small_net(), "lava-cpu", batch_samples=2) as runner:
    runner.run(x)
    print("up", flush=True)
    while True:
        runner.run(x)
"""


def _frames():
    return (np.random.default_rng(0).random((2, 2, 6, 6, 3)) < 0.5).astype(np.int64)


def _existing(names) -> set:
    return {n for n in names if os.path.exists(f"/dev/shm/{n}")}


@pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="no /dev/shm on this system")
def test_the_next_run_removes_what_a_group_sigkill_left(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    registry = tmp_path / "lava-msf" / "shm"
    proc = subprocess.Popen([sys.executable, "-c", CHILD], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, env={**os.environ, "XDG_RUNTIME_DIR": str(tmp_path)})
    try:
        assert proc.stdout.readline() == "up\n", proc.communicate(timeout=60)
        mapped = _segments(_group_members(proc.pid))
        records = list(registry.iterdir())
        assert len(records) == 1
        header, *recorded = records[0].read_text().splitlines()
        assert header.startswith(f"{proc.pid} ")
        assert mapped and mapped <= set(recorded)  # every segment of the run is on record
        os.killpg(proc.pid, signal.SIGKILL)  # host, workers and the resource tracker at once
        proc.wait(timeout=60)
        deadline = time.time() + 30
        while _group_members(proc.pid) and time.time() < deadline:
            time.sleep(0.1)
        assert _group_members(proc.pid) == []
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.stdout.close()
        proc.stderr.close()
    left = _existing(recorded)
    assert left == _existing(mapped | set(recorded)) and mapped <= left  # nothing of the run removed them
    with LavaRunner(small_net(), "lava-cpu", batch_samples=2) as runner:
        runner.run(_frames())
        assert _existing(recorded) == set()  # swept when this run started
        assert [p.name for p in registry.iterdir()] != [records[0].name]  # its own record only
    assert list(registry.iterdir()) == []  # a stopped run drops its record


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


@pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="no /dev/shm on this system")
def test_the_sweep_removes_only_recorded_segments_of_dead_owners_here(tmp_path):
    segments = {k: SharedMemory(create=True, size=64) for k in ("dead", "alive", "elsewhere", "reused")}
    stranger = f"/dev/shm/lava-msf-test-{os.getpid()}"  # recorded, but not a multiprocessing name
    open(stranger, "w").close()
    try:
        here, dead, me = shm._machine(), _dead_pid(), os.getpid()
        records = {
            "dead": f"{dead} 12345 {here}\n{segments['dead'].name}\n{os.path.basename(stranger)}\nps",
            "alive": f"{me} {shm._start_time(me)} {here}\n{segments['alive'].name}\n",
            "elsewhere": f"{dead} 12345 another-boot pid:[1]\n{segments['elsewhere'].name}\n",
            "reused": f"{me} 0 {here}\n{segments['reused'].name}\n",  # the pid now belongs to a later process
            "writing": f"{dead} 123",  # a header not yet whole
        }
        for name, text in records.items():
            (tmp_path / name).write_text(text)
        removed = shm.sweep(tmp_path)
        assert sorted(removed) == sorted([segments["dead"].name, segments["reused"].name])
        assert _existing(s.name for s in segments.values()) == {segments["alive"].name, segments["elsewhere"].name}
        assert os.path.exists(stranger)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["alive", "elsewhere", "writing"]
    finally:
        os.unlink(stranger)
        for s in segments.values():
            s.close()
            if os.path.exists(f"/dev/shm/{s.name}"):
                s.unlink()
            else:  # swept: stop multiprocessing's tracker from unlinking it again at exit
                from multiprocessing import resource_tracker
                resource_tracker.unregister(s._name, "shared_memory")


def test_an_unusable_registry_does_not_stop_a_run(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "file"))  # its parent is a file: mkdir fails
    with LavaRunner(small_net(), "lava-cpu", batch_samples=2) as runner:
        out, _ = runner.run(_frames())
    assert out.shape[0] == 2
