"""Atomic file output: a write either completes or leaves the old file intact.

A destination that cannot be written (read-only file system, a parent that is
a file, a directory in the way, a full disk) raises OutputError, one line
naming the path; check_destination says so before any work is done."""

import contextlib
import errno
import io
import os
import tempfile
from pathlib import Path

from .errors import OutputError

# errors of writing a file (a path's own, or of a write with no path: ENOSPC)
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EISDIR, errno.ENOTDIR, errno.EACCES,
                 errno.EPERM, errno.ENOENT}


def _cannot(path, reason: str) -> OutputError:
    return OutputError(f"cannot write {path}: {reason}")


def _reason(e: OSError) -> str:
    return (e.strerror or str(e)).lower()


def _writable_dir(directory: Path, path) -> None:
    if os.statvfs(directory).f_flag & os.ST_RDONLY:
        raise _cannot(path, "read-only file system")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise _cannot(path, f"permission denied in {directory}")


def check_destination(path, directory: bool = False) -> None:
    """Raise OutputError unless `path` (a file, or with `directory` a folder) can
    be written: missing parents can be created, none of them is a file, the
    place is writable and not on a read-only file system. A full disk shows
    only when writing (atomic_path reports it the same way)."""
    path = Path(path)
    if path.exists():
        if directory and not path.is_dir():
            raise _cannot(path, "it exists and is not a directory")
        if not directory and path.is_dir():
            raise _cannot(path, "it is a directory")
        if directory:
            return _writable_dir(path, path)
    ancestor = path.parent
    while not ancestor.exists():
        if ancestor == ancestor.parent:
            raise _cannot(path, "no such file system")
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise _cannot(path, f"{ancestor} is not a directory")
    _writable_dir(ancestor, path)


def same_file(a, b) -> bool:
    """Whether paths a and b name the same file (links and relative paths resolved)."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one does not exist (yet)
        return Path(a).resolve() == Path(b).resolve()


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to `path`; on success it replaces `path`.

    On any error (or KeyboardInterrupt) the temporary file is removed and the
    previous `path`, if any, is untouched. Failing to write raises OutputError.
    """
    path = Path(path)
    check_destination(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise _cannot(path, _reason(e)) from e
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if (isinstance(e, OSError) and e.errno in _WRITE_ERRNOS
                and e.filename in (None, tmp, str(path))):  # not an error of reading some other file
            raise _cannot(path, _reason(e)) from e
        raise


@contextlib.contextmanager
def atomic_h5(path):
    """Yield a new h5py.File built in memory; on success its bytes replace
    `path` atomically. HDF5 never writes to disk itself: h5py crashes the
    interpreter when the disk fills up under it, plain writes raise OSError."""
    import h5py

    check_destination(path)
    image = io.BytesIO()
    with h5py.File(image, "w") as f:
        yield f
    write_bytes(path, image.getbuffer())


def write_bytes(path, data) -> None:
    """`data` (bytes-like) to `path` atomically, with plain writes: also the way
    for writers whose own I/O fails badly on a full disk (h5py, torch.save: write
    them to a BytesIO first)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)


def write_text(path, text: str) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
