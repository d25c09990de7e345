"""Shared memory a killed Lava run leaves behind, removed by the next run.

Lava's channels are POSIX shared-memory segments (/dev/shm/psm_XXXXXXXX,
multiprocessing's names) that the host creates through Lava's
SharedMemoryManager; the runtime's stop, or multiprocessing's resource tracker
when only the host dies, unlinks them. A SIGKILL of the whole process group
(`kill -9 -PGID`, a cgroup's final kill) takes the tracker too, and nothing is
left to unlink them. So each session records the names of the segments it
creates, as it creates them, in a file of its own under the user's runtime
directory ($XDG_RUNTIME_DIR/lava-msf/shm, else $XDG_CACHE_HOME or
~/.cache/lava-msf/shm); a session that ends removes its record. Before a
session creates anything, it sweeps the records of dead owners.

What is removed is only ever a name that (1) a lava-msf session recorded,
(2) for an owner process that is dead: its pid is gone or belongs to a later
process (the start time differs), on this boot of this machine and in this pid
namespace (a shared home directory, another container), (3) has the exact
form of multiprocessing's names and (4) is a segment this user owns.
"""

import contextlib
import itertools
import os
import re
import threading
from pathlib import Path

SHM_DIR = Path("/dev/shm")
NAME = re.compile(r"psm_[0-9a-f]{8}")  # multiprocessing.shared_memory._make_filename
_current = threading.local()  # .record: the Record of the session creating a runtime on this thread
_serial = itertools.count()


def registry_dir() -> Path:
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) if runtime else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "lava-msf" / "shm"


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22); None: no such process."""
    stat = _read(f"/proc/{pid}/stat")
    return None if stat is None else stat.rsplit(")", 1)[1].split()[19]


def _machine() -> str:
    """This boot of this machine, and this pid namespace: where a recorded pid means something."""
    boot = (_read("/proc/sys/kernel/random/boot_id") or "").strip()
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    return f"{boot} {namespace}"


class Record:
    """One session's record: a header line (pid, start time, machine), then
    one segment name per line, appended as each is created."""

    def __init__(self):
        self.paths = []  # one per runtime the session created
        self._fd = None

    @contextlib.contextmanager
    def recording(self):
        """Context around a runtime's creation: sweeps dead owners' records,
        then records every segment this thread creates through Lava. Without a
        usable registry (no /dev/shm, an unwritable home) the run goes on
        unrecorded: recovery is a courtesy, not a condition of running."""
        try:
            self._open()
        except OSError:
            self._fd = None
        _current.record = self if self._fd is not None else None
        try:
            yield
        finally:
            _current.record = None
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def _open(self) -> None:
        if not SHM_DIR.is_dir():
            return
        _install()
        folder = registry_dir()
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        sweep(folder)
        pid = os.getpid()
        path = folder / f"{pid}.{next(_serial)}.{os.urandom(4).hex()}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        self.paths.append(path)
        try:
            os.write(fd, f"{pid} {_start_time(pid)} {_machine()}\n".encode())
        except OSError:
            os.close(fd)
            raise
        self._fd = fd

    def add(self, name: str) -> None:
        with contextlib.suppress(OSError):  # a full disk: this name goes unrecorded, the run goes on
            os.write(self._fd, f"{name}\n".encode())  # one write per name: a kill leaves whole lines

    def release(self) -> None:
        """The session's runtimes are stopped or aborted (their segments unlinked): drop the records."""
        for path in self.paths:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        self.paths = []


def sweep(folder: Path) -> list:
    """Remove the segments of records whose owner is dead, then the records.
    Returns the names removed."""
    removed, machine, uid = [], _machine(), os.getuid()
    for path in list(folder.iterdir()):
        text = _read(str(path))
        if text is None or "\n" not in text:
            continue  # unreadable, or its owner is writing the header now
        header, *names = text.split("\n")
        pid, start, owner_machine = (header.split(" ", 2) + ["", ""])[:3]
        if owner_machine != machine or not pid.isdigit() or _start_time(int(pid)) == start:
            continue  # another machine's or namespace's, or its owner lives
        for name in names:
            segment = SHM_DIR / name
            with contextlib.suppress(OSError):
                if NAME.fullmatch(name) and segment.stat().st_uid == uid:
                    segment.unlink()
                    removed.append(name)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return removed


def _install() -> None:
    """Wrap Lava's SharedMemoryManager.create_shared_memory (once) so that the
    recording session on this thread learns each name as it is created."""
    from lava.magma.runtime.message_infrastructure.shared_memory_manager import SharedMemoryManager

    original = SharedMemoryManager.create_shared_memory
    if getattr(original, "records_names", False):
        return

    def create_shared_memory(self, size: int):
        handle = original(self, size)
        record = getattr(_current, "record", None)
        if record is not None:
            record.add(handle.name.lstrip("/"))
        return handle

    create_shared_memory.records_names = True
    SharedMemoryManager.create_shared_memory = create_shared_memory
