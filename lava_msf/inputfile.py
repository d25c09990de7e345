"""One array from a user's file (`lava-msf run --inputs FILE[:KEY]`): a .npy
file, a member of a .npz (KEY, or its only array) or a dataset of an .h5 file
(KEY a dataset path, or its only dataset).

The shape and dtype come from the file's header and go to the caller's check
before any data is read, so a declared size is bounded before anything is
allocated. Only numeric arrays are read (bool, integers, reals): object,
structured and string arrays are refused, nothing is ever unpickled, and an
.h5 dataset stored outside the file (external or virtual storage, external
links) is refused. Errors are InputFileError, one line naming the file and key."""

import contextlib
import math
import os
import tokenize
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .errors import InputFileError
from .events.io import MAX_H5_CHUNK_BYTES

NPY, NPZ, H5 = (".npy",), (".npz",), (".h5", ".hdf5")
NUMERIC_KINDS = "biuf"  # bool, signed and unsigned integers, reals
_NPY_HEADERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def split_key(text: str) -> tuple:
    """FILE or FILE:KEY -> (path, key or None). KEY only follows a .npz or .h5
    file; a path that exists as given is a file, even with a colon in its name."""
    path, sep, key = str(text).rpartition(":")
    if sep and not Path(text).exists() and Path(path).suffix.lower() in NPZ + H5:
        return path, key
    return str(text), None


def read_array(text: str, check) -> tuple:
    """The array named by `text` (FILE or FILE:KEY) and where it came from
    ("FILE" or "FILE:KEY"). `check(shape, dtype, where)` is called before any
    data is read and raises if the array does not fit."""
    path, key = split_key(text)
    suffix = Path(path).suffix.lower()
    if suffix not in NPY + NPZ + H5:
        raise InputFileError(f"{path}: unknown input file type {suffix or '(no suffix)'!r}; "
                             f"use .npy, .npz or .h5")
    if key is not None and suffix in NPY:
        raise InputFileError(f"{text}: a .npy file holds one array; give no :KEY")
    if not Path(path).is_file():
        raise InputFileError(f"{path}: no such file")
    with _read_errors(path):
        if suffix in NPY:
            with open(path, "rb") as f:
                return _npy(f, path, check, os.fstat(f.fileno()).st_size), path
        if suffix in NPZ:
            return _npz(path, key, check)
        return _h5(path, key, check)


@contextlib.contextmanager
def _read_errors(path):
    """A library's error on a malformed file -> InputFileError naming it."""
    try:
        yield
    except InputFileError:
        raise
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise InputFileError(f"{path}: cannot read: {type(e).__name__}: {e}") from e


def _check_dtype(dtype: np.dtype, where: str) -> None:
    if dtype.hasobject:
        raise InputFileError(f"{where}: object arrays are refused (reading them would unpickle)")
    if dtype.kind not in NUMERIC_KINDS or dtype.fields is not None or dtype.shape:
        raise InputFileError(f"{where}: dtype {dtype} is not a plain number type (bool, integer or real)")


def _npy(f, where: str, check, size=None) -> np.ndarray:
    """A .npy stream: header, check, then exactly its bytes (a shorter stream is truncated)."""
    version = np.lib.format.read_magic(f)
    if version not in _NPY_HEADERS:
        raise InputFileError(f"{where}: unsupported .npy format version {version}")
    try:
        shape, fortran, dtype = _NPY_HEADERS[version](f)
    except (SyntaxError, tokenize.TokenError) as e:  # numpy parses the header as a Python literal
        raise InputFileError(f"{where}: bad .npy header ({type(e).__name__})") from None
    _check_dtype(dtype, where)
    check(tuple(shape), dtype, where)
    nbytes = math.prod(shape) * dtype.itemsize
    if size is not None and size - f.tell() < nbytes:
        raise InputFileError(f"{where}: truncated: the header declares {nbytes} bytes of data, the file has "
                             f"{max(0, size - f.tell())}")
    data = f.read(nbytes)
    if len(data) != nbytes:
        raise InputFileError(f"{where}: truncated: {len(data)} of {nbytes} bytes of data")
    array = np.frombuffer(data, dtype=dtype)
    return array.reshape(shape[::-1]).T if fortran else array.reshape(shape)


def _only(names: list, path: str, what: str) -> str:
    if len(names) == 1:
        return names[0]
    listed = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
    raise InputFileError(f"{path}: holds {len(names)} {what}s ({listed or 'none'}); name one as {path}:KEY")


def _npz(path: str, key, check) -> tuple:
    with zipfile.ZipFile(path) as zf:
        names = [n[:-4] for n in zf.namelist() if n.endswith(".npy")]
        if key is None:
            key = _only(names, path, "array")
        elif key not in names:
            raise InputFileError(f"{path}: no array {key!r}; it holds {', '.join(names[:8]) or 'none'}")
        where = f"{path}:{key}"
        with zf.open(f"{key}.npy") as f:
            return _npy(f, where, check), where


def _h5(path: str, key, check) -> tuple:
    import h5py

    with h5py.File(path, "r") as f:
        if key is None:
            found = []
            f.visititems(lambda name, node: found.append(name) if isinstance(node, h5py.Dataset) else None)
            key = _only(found, path, "dataset")
        where = f"{path}:{key}"
        ds = f.get(key)
        if not isinstance(ds, h5py.Dataset):
            raise InputFileError(f"{where}: no such dataset" if ds is None else f"{where}: not a dataset")
        if ds.file.filename != f.filename or ds.is_virtual or ds.external:
            raise InputFileError(f"{where}: the dataset's data is stored outside this file")
        _check_dtype(ds.dtype, where)
        if ds.shape is None:  # HDF5's null dataspace
            raise InputFileError(f"{where}: the dataset is empty (no shape)")
        check(tuple(ds.shape), ds.dtype, where)
        if ds.chunks and math.prod(ds.chunks) * ds.dtype.itemsize > MAX_H5_CHUNK_BYTES:
            raise InputFileError(f"{where}: stored in chunks over {MAX_H5_CHUNK_BYTES >> 20} MiB each")
        return np.asarray(ds[()]), where
