"""The event array: one definition used by readers, writers, transforms,
the simulator and the streaming binner, and the one validation of event
fields and sensor sizes that every reader goes through."""

from typing import NamedTuple

import numpy as np

from ..errors import ConfigError, LavaMsfError
from ..memory import usable_memory

# tonic's field names and order (x, y, t, p); t in microseconds, p in {0, 1} (1 = ON)
EVENT_DTYPE = np.dtype([("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "<i1")])
MAX_COORD = np.iinfo(np.int16).max
# below 2**62 us (146,000 years), so differences and bin arithmetic never overflow int64
MAX_TIMESTAMP_US = (1 << 62) - 1
FIELD_RANGES = {"x": (0, MAX_COORD), "y": (0, MAX_COORD), "t": (0, MAX_TIMESTAMP_US), "p": (0, 1)}


class EventFormatError(LavaMsfError, ValueError):
    """An event file or array is malformed (names the file or field)."""


class SensorSize(NamedTuple):
    """tonic's (width, height, polarities)."""

    width: int
    height: int
    polarities: int = 2


def is_int(value) -> bool:
    """A Python or numpy integer, not a bool (bool is an int subclass; it never means a count)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def as_sensor_size(value, where: str, error=EventFormatError) -> SensorSize:
    """(width, height[, polarities]) as integers that event coordinates can
    address (1..32768 each, int16 coordinates) and 1 or 2 polarities."""
    try:
        items = list(value)
    except TypeError:
        raise error(f"{where}: sensor size must be 2 or 3 integers, got {str(value)[:80]}") from None
    if len(items) not in (2, 3) or not all(map(is_int, items)):
        raise error(f"{where}: sensor size must be 2 or 3 integers, got {str(value)[:80]}")
    size = SensorSize(*map(int, items))
    for name, v, hi in (("width", size.width, MAX_COORD + 1), ("height", size.height, MAX_COORD + 1),
                        ("polarities", size.polarities, 2)):
        if not 1 <= v <= hi:
            raise error(f"{where}: sensor {name} {str(v)[:40]} outside 1..{hi}")
    return size


def memory_budget() -> int:
    """Bytes one array may take: half of what this process may use."""
    return usable_memory() // 2


def check_allocation(nbytes: int, what: str, error=ConfigError) -> None:
    """Refuse, before allocating, an array larger than memory_budget()."""
    budget = memory_budget()
    if nbytes > budget:
        raise error(f"{what} would take {nbytes / 2 ** 30:.3g} GiB; at most {budget / 2 ** 30:.3g} GiB "
                    f"(half the memory this process may use) is allowed")


def check_int(value, name: str, lo: int, hi: int | None = None, error=ConfigError) -> int:
    """An integer parameter in lo..hi (bool and float refused), as an int."""
    if not is_int(value):
        raise error(f"{name} must be an integer, got {str(value)[:40]}")
    if value < lo or (hi is not None and value > hi):
        raise error(f"{name} must be {f'at least {lo}' if hi is None else f'in {lo}..{hi}'}, got {value}")
    return int(value)


def _check_fields(columns: dict, where: str) -> int:
    """Integer (or bool), 1-D, equally long fields with values in FIELD_RANGES,
    checked in their own dtypes before any cast, so that nothing wraps or
    truncates. Returns the event count."""
    for name, a in columns.items():
        if a.dtype.kind not in "iub":
            raise EventFormatError(f"{where}: field {name!r} must be integer, got {str(a.dtype)[:80]}")
        if a.ndim != 1:
            raise EventFormatError(f"{where}: field {name!r} must be one-dimensional, got shape {a.shape}")
    lengths = {name: len(a) for name, a in columns.items()}
    if len(set(lengths.values())) != 1:
        counts = ", ".join(f"{k} {v}" for k, v in lengths.items())
        raise EventFormatError(f"{where}: fields differ in length ({counts})")
    for name, a in columns.items():
        lo, hi = FIELD_RANGES[name]
        if not len(a) or (a.min() >= lo and a.max() <= hi):
            continue
        i = int(np.flatnonzero((a < lo) | (a > hi))[0])
        if name == "p":
            raise EventFormatError(f"{where}: polarity {int(a[i])} at event {i}; expected 0 or 1")
        unit = " us" if name == "t" else ""
        raise EventFormatError(f"{where}: field {name!r} = {int(a[i])}{unit} at event {i} is outside {lo}..{hi}{unit}")
    return next(iter(lengths.values()))


def make_events(x, y, t, p, where: str = "events") -> np.ndarray:
    """Structured event array from four equally long integer sequences; values
    that do not fit EVENT_DTYPE (or FIELD_RANGES) are an EventFormatError."""
    columns = dict(zip(EVENT_DTYPE.names, (np.asarray(a) for a in (x, y, t, p))))
    events = np.empty(_check_fields(columns, where), dtype=EVENT_DTYPE)
    for name, a in columns.items():
        events[name] = a
    return events


def as_events(array, where: str = "events") -> np.ndarray:
    """Any structured array with fields x, y, t, p (e.g. tonic's, or
    expelliarmus' with bool/uint8 p) -> EVENT_DTYPE; a typed error otherwise.
    Field values are checked as make_events checks separate fields."""
    array = np.asarray(array)
    names = array.dtype.names or ()
    missing = [f for f in EVENT_DTYPE.names if f not in names]
    if missing:
        raise EventFormatError(f"{where}: not an event array: missing field(s) {', '.join(missing)} "
                               f"(got dtype {str(array.dtype)[:200]})")
    if array.ndim != 1:
        raise EventFormatError(f"{where}: events must be one-dimensional, got shape {array.shape}")
    if array.dtype != EVENT_DTYPE:
        return make_events(*(array[f] for f in EVENT_DTYPE.names), where=where)
    _check_fields({f: array[f] for f in EVENT_DTYPE.names}, where)
    return array


def check_events(events: np.ndarray, sensor_size=None, where: str = "events",
                 after_us: int | None = None) -> np.ndarray:
    """Validate an event array: fields in range (as_events), non-decreasing
    timestamps (also across chunks: none before `after_us`), coordinates on
    the sensor. Returns it as EVENT_DTYPE."""
    events = as_events(events, where)
    if not len(events):
        return events
    t = events["t"]
    if after_us is not None and t[0] < after_us:
        raise EventFormatError(f"{where}: timestamp {int(t[0])} us goes back before {after_us} us")
    back = np.flatnonzero(np.diff(t) < 0)
    if len(back):
        i = int(back[0])
        raise EventFormatError(f"{where}: timestamps decrease at event {i + 1} ({int(t[i])} -> {int(t[i + 1])} us)")
    if sensor_size is not None:
        w, h = as_sensor_size(sensor_size, where)[:2]
        out = np.flatnonzero((events["x"] >= w) | (events["y"] >= h))
        if len(out):
            e = events[out[0]]
            raise EventFormatError(f"{where}: event {int(out[0])} at ({int(e['x'])}, {int(e['y'])}) "
                                   f"is outside the {w}x{h} sensor")
    return events
