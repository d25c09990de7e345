"""Typed reads of one HDF5 key for the layer and neuron modules: each check
raises NetFileError naming the file, the layer and the key."""

from pathlib import Path

import h5py
import numpy as np

from ..errors import NetFileError
from ..intconv import pair as _pair

MAX_ELEMENTS = 1 << 26  # elements of one dataset: refused before it is read (int64: 512 MiB)
EXACT = 1 << 53  # integers beyond this are not exact in the float64 a key may be stored as


def open_file(path, error=NetFileError) -> h5py.File:
    """An HDF5 file opened for reading; a missing or non-HDF5 file is `error` naming it."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: no such file")
    try:
        return h5py.File(path, "r")
    except OSError as e:
        raise error(f"{path}: not an HDF5 file ({str(e).splitlines()[0][:120]})") from None


def dataset(g, key, at):
    if key not in g or not isinstance(g[key], h5py.Dataset):
        raise NetFileError(f"{at}: missing key {key!r}")
    _sequences(g[key].id.get_type(), at, f"key {key!r}")
    return g[key]


def attr(obj, key, at, default=None):
    """An attribute's value (`default` when absent), its type checked before it is read."""
    if key not in obj.attrs:
        return default
    _sequences(obj.attrs.get_id(key).get_type(), at, f"attribute {key!r}")
    return obj.attrs[key]


def _sequences(t, at, what) -> None:
    """HDF5 follows a variable-length sequence's heap reference unchecked: a corrupt
    one crashes the interpreter, and no key of a .net file holds one."""
    if t.get_class() == h5py.h5t.VLEN:
        raise NetFileError(f"{at}: {what} holds variable-length sequences, not numbers or a string")


def string(g, key, at) -> str:
    ds = dataset(g, key, at)
    if ds.size != 1:
        raise NetFileError(f"{at}: key {key!r} must be one string")
    value = ds[()]
    if isinstance(value, np.ndarray):
        value = value.reshape(-1)[0]
    if not isinstance(value, (bytes, str)):
        raise NetFileError(f"{at}: key {key!r} must be a string")
    return value.decode("ascii", "replace") if isinstance(value, bytes) else value


def ints(g, key, at) -> np.ndarray:
    """The key's integers (int64), its size bounded before it is read."""
    ds = dataset(g, key, at)
    if ds.size > MAX_ELEMENTS:
        raise NetFileError(f"{at}: key {key!r} has {ds.size} elements, more than {MAX_ELEMENTS}")
    value = np.asarray(ds[()])
    if value.dtype.kind == "b":
        return value.astype(np.int64)
    if value.dtype.kind == "f":
        if not np.isfinite(value).all() or (value != np.rint(value)).any():
            raise NetFileError(f"{at}: key {key!r} must hold integers (found non-integer or NaN values)")
    elif value.dtype.kind not in "iu":
        raise NetFileError(f"{at}: key {key!r} must be numeric, got {value.dtype}")
    if value.size and np.abs(value.astype(np.float64)).max() >= EXACT:
        raise NetFileError(f"{at}: key {key!r} is out of range")
    return value.astype(np.int64)


def integer(g, key, at, lo: int, hi: int, default: int | None = None) -> int:
    """One integer in lo..hi (`default` when the key is absent and a default is given)."""
    if default is not None and key not in g:
        return default
    value = ints(g, key, at).reshape(-1)
    if value.size != 1:
        raise NetFileError(f"{at}: key {key!r} must be one integer, got {value.size} values")
    if not lo <= int(value[0]) <= hi:
        raise NetFileError(f"{at}: key {key!r} = {int(value[0])} outside {lo}..{hi}")
    return int(value[0])


def pair(g, key, at, lo: int, hi: int, default) -> tuple:
    """NetX's one value or (y, x) pair, each in lo..hi (`default`, an int or a pair, when absent)."""
    if key not in g:
        return _pair(default)
    v = ints(g, key, at).reshape(-1)
    if v.size not in (1, 2) or not all(lo <= int(e) <= hi for e in v):
        raise NetFileError(f"{at}: key {key!r} must be one value or a (y, x) pair in {lo}..{hi}, got {v.tolist()[:4]}")
    return _pair(v[0] if v.size == 1 else v)


def compact(p: tuple):
    """A (y, x) pair as a layer's attrs keep it: one int when both are equal."""
    return p[0] if p[0] == p[1] else p


def write_string(g, key, value: str) -> None:
    g.create_dataset(key, (1,), "S16", [value.encode("ascii")])
