"""Event files: readers for AEDAT4, N-MNIST .bin, Prophesee DAT/EVT2/EVT3
(expelliarmus), .npz and .h5; writers for .npz and .h5.

Every reader yields chunks of at most `chunk_events` events, so a long file is
never loaded whole, and validates each chunk (timestamps non-decreasing across
chunks, coordinates on the sensor): a truncated or corrupt file ends in an
EventFormatError naming the file, never in a hang or a garbage array.
Nothing is unpickled: .npz members with object dtypes are refused."""

import contextlib
import re
import tokenize
import zipfile
import zlib
from pathlib import Path
from xml.etree import ElementTree

import numpy as np

from ..atomic import atomic_path
from ..errors import ConfigError
from .core import (EVENT_DTYPE, MAX_COORD, EventFormatError, SensorSize, as_events, as_sensor_size,
                   check_allocation, check_events, make_events)

DEFAULT_CHUNK = 1 << 16
MAX_CHUNK = 1 << 24  # events per chunk (256 MiB as EVENT_DTYPE): a chunk is what a reader holds at once
MAX_HEADER_LINE = 1 << 16  # bytes of one '%' header line of a Prophesee file
MAX_H5_CHUNK_BYTES = 1 << 28  # HDF5 decompresses a whole storage chunk to read any part of it
NMNIST_SENSOR = SensorSize(34, 34, 2)
NMNIST_OVERFLOW = 1 << 13  # a y == 240 record advances time by 2**13 us


class EventFile:
    """An event file opened for chunked reading. `sensor_size` comes from the
    file's header where the format has one, else from the caller (or None)."""

    def __init__(self, path, sensor_size=None):
        self.path = Path(path)
        if not self.path.is_file():
            raise EventFormatError(f"{self.path}: no such event file")
        suffix = self.path.suffix.lower()
        if suffix not in _READERS:
            raise EventFormatError(f"{self.path}: unknown event file type {suffix!r}; "
                                   f"readable: {', '.join(sorted(_READERS))}")
        self.format = suffix.lstrip(".")
        self._reader = _READERS[suffix]
        with _format_errors(self.path):
            header_size = self._reader.sensor_size(self.path)
        given = None if sensor_size is None else as_sensor_size(sensor_size, f"{self.path}: the given sensor size",
                                                                ConfigError)
        self.sensor_size = given or header_size

    def chunks(self, chunk_events: int = DEFAULT_CHUNK):
        """Validated EVENT_DTYPE chunks, in time order."""
        if isinstance(chunk_events, bool) or not isinstance(chunk_events, (int, np.integer)) \
                or not 1 <= chunk_events <= MAX_CHUNK:
            raise ConfigError(f"--chunk-events must be an integer in 1..{MAX_CHUNK}, got {str(chunk_events)[:40]}")
        chunk_events = int(chunk_events)
        last = None
        with _format_errors(self.path):
            for raw in self._reader.chunks(self.path, chunk_events):
                events = check_events(raw, self.sensor_size, f"{self.path}", after_us=last)
                if len(events):
                    last = int(events["t"][-1])
                    yield events

    def read(self) -> np.ndarray:
        """The whole file as one array (refused, before it fills memory, for a
        file that does not fit: stream those with chunks())."""
        parts, total = [], 0
        for chunk in self.chunks():
            total += len(chunk)
            check_allocation(2 * total * EVENT_DTYPE.itemsize, f"{self.path}: reading {total}+ events whole "
                             f"(with their concatenation)", EventFormatError)
            parts.append(chunk)
        return np.concatenate(parts) if parts else np.empty(0, EVENT_DTYPE)


def open_events(path, sensor_size=None) -> EventFile:
    return EventFile(path, sensor_size)


def read_events(path, sensor_size=None) -> tuple:
    """(events, sensor_size) of a whole file."""
    f = EventFile(path, sensor_size)
    return f.read(), f.sensor_size


@contextlib.contextmanager
def _format_errors(path):
    """Library errors from a malformed file -> EventFormatError naming it."""
    try:
        yield
    except EventFormatError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError, zipfile.BadZipFile, EOFError, zlib.error) as e:
        raise EventFormatError(f"{path}: cannot read events: {type(e).__name__}: {e}") from e
    except BaseException as e:
        # The aedat decoder (Rust) turns its panics on malformed input into
        # pyo3's PanicException, a BaseException (found by fuzzing).
        if type(e).__name__ == "PanicException":
            raise EventFormatError(f"{path}: cannot read events: the decoder failed: {e}") from None
        raise


def _rechunk(arrays, n: int):
    """Re-cut a stream of arrays into chunks of n."""
    pending, size = [], 0
    for a in arrays:
        pending.append(a)
        size += len(a)
        while size >= n:
            joined = np.concatenate(pending)
            yield joined[:n]
            pending, size = [joined[n:]], size - n
    if size:
        yield np.concatenate(pending)


# ---------------------------------------------------------------- .npz
class _NpyMember:
    """A .npy member of a zip read sequentially (no whole-array load, no pickle)."""

    def __init__(self, zf: zipfile.ZipFile, name: str):
        self.name = name
        self.f = zf.open(name)
        version = np.lib.format.read_magic(self.f)
        read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                       (2, 0): np.lib.format.read_array_header_2_0}.get(version)
        if read_header is None:
            raise EventFormatError(f"member {name}: unsupported .npy version {version}")
        try:
            shape, fortran, self.dtype = read_header(self.f)
        except (SyntaxError, tokenize.TokenError) as e:  # numpy parses the header as a Python literal
            raise EventFormatError(f"member {name}: bad .npy header ({type(e).__name__})") from None
        if self.dtype.hasobject:
            raise EventFormatError(f"member {name}: object arrays are refused (they would need unpickling)")
        if len(shape) != 1:
            raise EventFormatError(f"member {name}: events must be one-dimensional, got shape {shape}")
        self.remaining = int(shape[0])

    def read(self, n: int) -> np.ndarray:
        n = min(n, self.remaining)
        data = self.f.read(n * self.dtype.itemsize)
        if len(data) != n * self.dtype.itemsize:
            raise EventFormatError(f"member {self.name}: truncated ({self.remaining - len(data) // self.dtype.itemsize}"
                                   f" of {self.remaining} remaining items missing)")
        self.remaining -= n
        return np.frombuffer(data, dtype=self.dtype)


class _Npz:
    """Either one structured member `events` or members x, y, t, p; optional
    `sensor_size` (width, height, polarities)."""

    @staticmethod
    def sensor_size(path):
        with zipfile.ZipFile(path) as zf:
            if "sensor_size.npy" not in zf.namelist():
                return None
            member = _NpyMember(zf, "sensor_size.npy")
            if member.dtype.kind not in "iu" or member.remaining not in (2, 3):
                raise EventFormatError(f"{path}: sensor_size must be 2 or 3 integers")
            return as_sensor_size(member.read(3), f"{path}: sensor_size")

    @staticmethod
    def chunks(path, n):
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if "events.npy" in names:
                member = _NpyMember(zf, "events.npy")
                while member.remaining:
                    yield as_events(member.read(n), f"{path}: member events")
                return
            fields = [f"{f}.npy" for f in EVENT_DTYPE.names]
            if not set(fields) <= names:
                raise EventFormatError(f"{path}: expected a member 'events' or members x, y, t, p; "
                                       f"found {', '.join(sorted(names)) or 'none'}")
            members = [_NpyMember(zf, f) for f in fields]
            if len({m.remaining for m in members}) != 1:
                raise EventFormatError(f"{path}: members x, y, t, p differ in length")
            while members[0].remaining:
                yield make_events(*(m.read(n) for m in members), where=f"{path}")


def _write_npz(tmp, events, sensor_size):
    arrays = {"events": events}
    if sensor_size is not None:
        arrays["sensor_size"] = np.asarray(sensor_size, dtype=np.int64)
    with open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)


# ---------------------------------------------------------------- .h5
class _H5:
    """Dataset `events` (structured) or datasets x, y, t, p (in the root or a
    group `events`); attribute `sensor_size`."""

    @staticmethod
    def _open(path):
        import h5py

        return h5py.File(path, "r")

    @classmethod
    def sensor_size(cls, path):
        with cls._open(path) as f:
            size = f.attrs.get("sensor_size")
            if size is None:
                return None
            size = np.asarray(size)
            if size.dtype.kind not in "iu" or size.shape not in ((2,), (3,)):
                raise EventFormatError(f"{path}: attribute sensor_size must be 2 or 3 integers")
            return as_sensor_size(size, f"{path}: attribute sensor_size")

    @staticmethod
    def _check(path, ds):
        """A 1-D dataset whose storage chunks can be decompressed in memory."""
        if ds.ndim != 1:
            raise EventFormatError(f"{path}: dataset {ds.name} must be one-dimensional, got shape {ds.shape}")
        if ds.chunks and ds.chunks[0] * ds.dtype.itemsize > MAX_H5_CHUNK_BYTES:
            raise EventFormatError(f"{path}: dataset {ds.name} is stored in chunks of {ds.chunks[0]} items, "
                                   f"over {MAX_H5_CHUNK_BYTES >> 20} MiB each")
        return ds

    @classmethod
    def chunks(cls, path, n):
        import h5py

        with cls._open(path) as f:
            node = f.get("events", f)
            if isinstance(node, h5py.Dataset):
                node = cls._check(path, node)
                for i in range(0, len(node), n):
                    yield as_events(node[i:i + n], f"{path}: dataset events")
                return
            if not isinstance(node, h5py.Group):
                raise EventFormatError(f"{path}: 'events' is neither a dataset nor a group")
            missing = [k for k in EVENT_DTYPE.names if not isinstance(node.get(k), h5py.Dataset)]
            if missing:
                raise EventFormatError(f"{path}: expected a dataset 'events' or datasets x, y, t, p; "
                                       f"missing {', '.join(missing)}")
            columns = [cls._check(path, node[k]) for k in EVENT_DTYPE.names]
            if len({c.shape for c in columns}) != 1:
                raise EventFormatError(f"{path}: datasets x, y, t, p differ in length")
            for i in range(0, len(columns[0]), n):
                yield make_events(*(c[i:i + n] for c in columns), where=f"{path}")


class H5EventWriter:
    """Appends event chunks to a new .h5 file (a chunked, compressed,
    resizable dataset); the file appears at `path` only when closed without
    error. Use as a context manager."""

    def __init__(self, path, sensor_size=None):
        self.path = Path(path)
        self._sensor_size = None if sensor_size is None else as_sensor_size(sensor_size, f"{self.path} (writing)",
                                                                             ConfigError)
        self._atomic = atomic_path(self.path)
        self._last = None

    def __enter__(self):
        import h5py

        tmp = self._atomic.__enter__()
        self._file = h5py.File(tmp, "w")
        self._data = self._file.create_dataset("events", shape=(0,), maxshape=(None,), dtype=EVENT_DTYPE,
                                               chunks=(DEFAULT_CHUNK,), compression="gzip", shuffle=True)
        if self._sensor_size is not None:
            self._file.attrs["sensor_size"] = np.asarray(self._sensor_size, dtype=np.int64)
        return self

    def write(self, events) -> None:
        events = check_events(events, self._sensor_size, f"{self.path} (writing)", after_us=self._last)
        if not len(events):
            return
        self._last = int(events["t"][-1])
        start = len(self._data)
        self._data.resize((start + len(events),))
        self._data[start:] = events

    def __exit__(self, *exc):
        self._file.close()
        return self._atomic.__exit__(*exc)


# ---------------------------------------------------------------- N-MNIST .bin
class _NmnistBin:
    """5 bytes per event: x, y, then polarity (bit 7) and a 23-bit timestamp.
    A record with y == 240 is a timestamp overflow marker (+2**13 us)."""

    @staticmethod
    def sensor_size(path):
        size = path.stat().st_size
        if size % 5:
            raise EventFormatError(f"{path}: truncated N-MNIST file: {size} bytes is not a multiple of 5")
        return NMNIST_SENSOR

    @staticmethod
    def chunks(path, n):
        offset = 0
        with open(path, "rb") as f:
            while True:
                raw = np.frombuffer(f.read(5 * n), dtype=np.uint8)
                if not len(raw):
                    return
                if len(raw) % 5:
                    raise EventFormatError(f"{path}: truncated N-MNIST file (a partial 5-byte record)")
                rec = raw.reshape(-1, 5).astype(np.int64)
                overflow = rec[:, 1] == 240
                # each marker advances every later record (in this chunk and the next)
                advance = offset + NMNIST_OVERFLOW * np.cumsum(overflow)
                offset = int(advance[-1])
                t = ((rec[:, 2] & 127) << 16 | rec[:, 3] << 8 | rec[:, 4]) + advance
                keep = ~overflow
                yield make_events(rec[keep, 0], rec[keep, 1], t[keep], rec[keep, 2] >> 7, where=f"{path}")


def write_nmnist_bin(path, events) -> None:
    """N-MNIST's .bin encoding (timestamps beyond 23 bits get overflow
    markers). For tests and for exporting synthetic data to N-MNIST tools."""
    events = check_events(events, NMNIST_SENSOR, f"{path} (writing)")
    records, base = [], 0
    for e in events:
        while int(e["t"]) - base >= 1 << 23:
            records.append((0, 240, 0, 0, 0))
            base += NMNIST_OVERFLOW
        dt = int(e["t"]) - base
        records.append((int(e["x"]), int(e["y"]), int(e["p"]) << 7 | dt >> 16, dt >> 8 & 255, dt & 255))
    with atomic_path(path) as tmp:
        np.asarray(records, dtype=np.uint8).reshape(-1, 5).tofile(tmp)


# ---------------------------------------------------------------- AEDAT4
class _Aedat4:
    """iniVation AEDAT 4 through the `aedat` decoder; the first event stream."""

    MAGIC = b"#!AER-DAT4.0\r\n"
    MAX_HEADER = 1 << 24

    @classmethod
    def _check_header(cls, path) -> None:
        """The decoder aborts the interpreter (a Rust panic during unwinding) on
        some malformed stream descriptions, e.g. non-ASCII XML (found by
        fuzzing): check the header before handing the file to it. Layout:
        magic, u32 size, a FlatBuffer whose XML description is a string with a
        u32 length before it."""
        with open(path, "rb") as f:
            if f.read(len(cls.MAGIC)) != cls.MAGIC:
                raise EventFormatError(f"{path}: not an AEDAT 4.0 file (no '#!AER-DAT4.0' line)")
            size = int.from_bytes(f.read(4), "little")
            header = f.read(min(size, cls.MAX_HEADER))
        if size > cls.MAX_HEADER or len(header) != size:
            raise EventFormatError(f"{path}: truncated or oversized AEDAT4 header ({size} bytes declared)")
        start = header.find(b"<")
        length = int.from_bytes(header[start - 4:start], "little") if start >= 4 else -1
        xml = header[start:start + length] if length > 0 else b""
        if len(xml) != length or not xml.isascii():
            raise EventFormatError(f"{path}: malformed AEDAT4 stream description")
        try:
            root = ElementTree.fromstring(xml)
        except ElementTree.ParseError as e:
            raise EventFormatError(f"{path}: malformed AEDAT4 stream description ({e})") from None
        # the decoder's own message for a bad size ("invalid digit found in string") names nothing
        for node in root.iter("node"):
            for attr in node.iterfind("attr"):
                text = (attr.text or "").strip()
                if attr.get("key") in ("sizeX", "sizeY") and not (
                        re.fullmatch(r"\d{1,6}", text) and 1 <= int(text) <= MAX_COORD + 1):
                    raise EventFormatError(f"{path}: AEDAT4 stream {node.get('path', '?')[:80]} {attr.get('key')} "
                                           f"{text[:40]!r} is not a sensor size in 1..{MAX_COORD + 1}")

    @classmethod
    def _stream(cls, path):
        import aedat

        cls._check_header(path)
        decoder = aedat.Decoder(str(path))
        streams = {k: v for k, v in decoder.id_to_stream().items() if v.get("type") == "events"}
        if not streams:
            raise EventFormatError(f"{path}: the AEDAT4 file has no event stream")
        sid = min(streams)
        size = as_sensor_size((int(streams[sid]["width"]), int(streams[sid]["height"])), f"{path}: event stream")
        return decoder, sid, size

    @classmethod
    def sensor_size(cls, path):
        return cls._stream(path)[2]

    @classmethod
    def chunks(cls, path, n):
        decoder, sid, _ = cls._stream(path)
        packets = (p["events"] for p in decoder if p["stream_id"] == sid and "events" in p)
        for a in _rechunk(packets, n):
            yield make_events(a["x"], a["y"], a["t"], a["on"], where=f"{path}")


# ---------------------------------------------------------------- Prophesee
_GEOMETRY = (re.compile(rb"%\s*geometry\s+(\d+)x(\d+)"), re.compile(rb"%\s*[Ww]idth\s+(\d+)"),
             re.compile(rb"%\s*[Hh]eight\s+(\d+)"), re.compile(rb"width=(\d+)"), re.compile(rb"height=(\d+)"))


def _prophesee_header(path) -> bytes:
    lines = []
    with open(path, "rb") as f:
        while f.peek(1)[:1] == b"%" and len(lines) < 1000:
            lines.append(f.readline(MAX_HEADER_LINE + 1))
            if len(lines[-1]) > MAX_HEADER_LINE:
                raise EventFormatError(f"{path}: a '%' header line is longer than {MAX_HEADER_LINE} bytes")
    return b"".join(lines)


class _Prophesee:
    """Prophesee DAT (.dat) and EVT 2.0/3.0 RAW (.raw) through expelliarmus;
    the sensor size from the '%' header when it states one."""

    @staticmethod
    def encoding(path):
        if path.suffix.lower() == ".dat":
            return "dat"
        header = _prophesee_header(path).lower()
        return "evt2" if b"evt 2" in header or b"evt2" in header else "evt3"

    @staticmethod
    def sensor_size(path):
        header = _prophesee_header(path)
        geometry = _GEOMETRY[0].search(header)
        w = _GEOMETRY[1].search(header) or _GEOMETRY[3].search(header)
        h = _GEOMETRY[2].search(header) or _GEOMETRY[4].search(header)
        if geometry:
            w, h = geometry.group(1), geometry.group(2)
        elif w and h:
            w, h = w.group(1), h.group(1)
        else:
            return None
        where = f"{path}: the '%' header's geometry"
        if max(len(w), len(h)) > 6:  # no int() of a 10,000-digit number
            raise EventFormatError(f"{where} {w[:12].decode()}x{h[:12].decode()}: over 6 digits")
        return as_sensor_size((int(w), int(h)), where)

    @classmethod
    def chunks(cls, path, n):
        from expelliarmus import Wizard

        encoding = cls.encoding(path)
        # expelliarmus loops forever on some malformed files (fuzzing found an
        # unterminated header line): hand it only well-formed framing.
        header = _prophesee_header(path)
        if header and not header.endswith(b"\n"):
            raise EventFormatError(f"{path}: the '%' header's last line is not terminated")
        word = _WORD_BYTES[encoding]
        # DAT: 8-byte records after the header and a 2-byte type/size field
        body = path.stat().st_size - len(header) - (2 if encoding == "dat" else 0)
        if body < 0 or body % word:
            raise EventFormatError(f"{path}: truncated {encoding.upper()} file ({body} bytes of "
                                   f"{word}-byte words)")
        if body == 0:
            return
        wizard = Wizard(encoding=encoding, fpath=str(path), chunk_size=n)
        # EVT3 vector words expand to several events: re-cut to n
        yield from _rechunk((as_events(a, f"{path}") for a in wizard.read_chunk()), n)


_WORD_BYTES = {"dat": 8, "evt2": 4, "evt3": 2}
_READERS = {".npz": _Npz, ".h5": _H5, ".hdf5": _H5, ".bin": _NmnistBin, ".aedat4": _Aedat4,
            ".dat": _Prophesee, ".raw": _Prophesee}


def write_events(path, events, sensor_size=None) -> None:
    """Write a whole event array to .npz or .h5, atomically."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".h5", ".hdf5"):
        with H5EventWriter(path, sensor_size) as writer:
            writer.write(events)
        return
    if suffix != ".npz":
        raise EventFormatError(f"{path}: can write .h5, .hdf5 and .npz files, not {path.suffix!r}")
    if sensor_size is not None:
        sensor_size = as_sensor_size(sensor_size, f"{path} (writing)", ConfigError)
    events = check_events(events, sensor_size, f"{path} (writing)")
    with atomic_path(path) as tmp:
        _write_npz(tmp, events, sensor_size)
