"""lava_msf.signals: SIGTERM raises Terminated (a KeyboardInterrupt); signals
that arrive while workers fork are held until forking is done; workers forked
inside forking() ignore SIGINT and SIGTERM and die with their parent, also
when a thread other than the main one forked them (and has ended since)."""

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from lava_msf.signals import Terminated, exit_status, forking, install_sigterm_handler

PARENT = r"""
import multiprocessing as mp, threading, time
from lava_msf.signals import forking

def fork_one(pids):
    with forking():
        p = mp.get_context("fork").Process(target=time.sleep, args=(600,))
        p.start()
    pids.append(p.pid)

pids = []
fork_one(pids)  # on the main thread
thread = threading.Thread(target=fork_one, args=(pids,))
thread.start()
thread.join()  # the thread that forked the second worker has ended
print(*pids, flush=True)
time.sleep(600)
"""


def test_sigterm_is_an_interrupt_held_while_forking():
    previous = signal.getsignal(signal.SIGTERM)
    install_sigterm_handler()
    try:
        done = []
        with pytest.raises(Terminated):
            with forking():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.05)  # Python would run the handler here, were it not held
                done.append(True)
        assert done == [True]
        with pytest.raises(KeyboardInterrupt):
            with forking():
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.05)
                done.append(True)
        assert done == [True, True]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert exit_status(Terminated()) == 143 and exit_status(KeyboardInterrupt()) == 130


def test_workers_ignore_signals_and_die_with_their_parent(cli_env):
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True, env=cli_env)
    workers = []
    try:
        workers = [psutil.Process(int(pid)) for pid in parent.stdout.readline().split()]
        assert len(workers) == 2
        deadline = time.time() + 10  # a worker may not have run its after-fork hook yet
        while not all(_ignores(w.pid, signal.SIGTERM) and _ignores(w.pid, signal.SIGINT) for w in workers):
            assert time.time() < deadline
            time.sleep(0.01)
        for w in workers:
            w.send_signal(signal.SIGTERM)
            w.send_signal(signal.SIGINT)
        time.sleep(0.5)
        assert all(_alive(w) for w in workers)
        parent.kill()
        parent.wait(timeout=30)
        deadline = time.time() + 10
        while any(_alive(w) for w in workers) and time.time() < deadline:
            time.sleep(0.05)
        assert not any(_alive(w) for w in workers)
    finally:
        parent.kill()
        parent.stdout.close()
        for w in workers:
            if _alive(w):
                w.kill()


def _ignores(pid, signum) -> bool:
    with open(f"/proc/{pid}/status") as status:
        mask = next(int(line.split()[1], 16) for line in status if line.startswith("SigIgn:"))
    return bool(mask >> (signum - 1) & 1)


def _alive(p) -> bool:
    """Running (a zombie has ended: only its exit status is left)."""
    try:
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
