"""Signals: SIGTERM as an interrupt, and forked workers that die with their parent.

SIGTERM (what `timeout`, systemd, Kubernetes and job schedulers send) raises
``Terminated``, a KeyboardInterrupt, so that every Ctrl-C cleanup path runs for
it too. Processes forked inside ``forking()`` (Lava's process models and its
shared-memory manager) end by themselves when their parent dies, whatever
killed it: a SIGKILLed parent cannot clean up, its children can watch it.
"""

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time

_PR_SET_PDEATHSIG = 1  # linux/prctl.h
PARENT_POLL_S = 0.2  # how often a child forked off the main thread looks for its parent


class Terminated(KeyboardInterrupt):
    """SIGTERM was received."""


def exit_status(interrupt: KeyboardInterrupt) -> int:
    """The exit status of a program ended by this interrupt, as a shell gives
    one killed by the signal: 143 for SIGTERM, 130 for SIGINT."""
    return 128 + (signal.SIGTERM if isinstance(interrupt, Terminated) else signal.SIGINT)


def _raise_terminated(signum, frame):
    raise Terminated


def install_sigterm_handler() -> None:
    """From now on SIGTERM raises Terminated in the main thread (called from
    another thread, where Python takes no signals, it does nothing)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)


_forking = threading.local()  # .parent: pid of the process forking inside forking(), on that thread


def _in_child() -> None:
    """Runs in every child forked inside forking(): tie it to its parent.
    It ignores SIGINT and SIGTERM (a Ctrl-C or a service manager reaches the
    whole process group; a half-dead runtime cannot be stopped, and the parent
    would wait for it forever): the parent takes them and ends its children."""
    parent = getattr(_forking, "parent", None)
    if parent is None:
        return
    _forking.parent = None  # the child's own forks are not ours
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    # PR_SET_PDEATHSIG: the kernel kills the child when the thread that forked
    # it ends, so only for forks on the main thread (it lives as long as the
    # process); elsewhere a thread of the child watches its parent
    if not (_forking.main_thread and sys.platform.startswith("linux")
            and ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0):
        threading.Thread(target=_watch_parent, args=(parent,), name="lava-msf-parent-watch", daemon=True).start()
    if os.getppid() != parent:  # the parent died before the child was tied to it
        os._exit(1)


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os._exit(1)


os.register_at_fork(after_in_child=_in_child)


@contextlib.contextmanager
def forking():
    """Context for code that forks long-lived workers. The children forked
    inside it die with this process (see _in_child). SIGINT and SIGTERM that
    reach this process meanwhile are held until the forking is done, then
    delivered to the handlers in force before."""
    held, signums = [], (signal.SIGINT, signal.SIGTERM)
    main = threading.current_thread() is threading.main_thread()
    previous = {s: signal.signal(s, lambda signum, frame: held.append(signum)) for s in signums} if main else {}
    _forking.parent, _forking.main_thread = os.getpid(), main
    try:
        yield
    finally:
        _forking.parent = None
        for s, handler in previous.items():
            signal.signal(s, signal.SIG_DFL if handler is None else handler)  # None: set outside Python
        for s in dict.fromkeys(held):
            signal.raise_signal(s)
