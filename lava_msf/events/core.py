"""The event array: one definition used by readers, writers, transforms,
the simulator and the streaming binner."""

from typing import NamedTuple

import numpy as np

from ..errors import LavaMsfError

# tonic's field names and order (x, y, t, p); t in microseconds, p in {0, 1} (1 = ON)
EVENT_DTYPE = np.dtype([("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "<i1")])
MAX_COORD = np.iinfo(np.int16).max


class EventFormatError(LavaMsfError, ValueError):
    """An event file or array is malformed (names the file or field)."""


class SensorSize(NamedTuple):
    """tonic's (width, height, polarities)."""

    width: int
    height: int
    polarities: int = 2


def make_events(x, y, t, p) -> np.ndarray:
    """Structured event array from four equally long sequences."""
    x, y, t, p = (np.asarray(a) for a in (x, y, t, p))
    events = np.empty(len(t), dtype=EVENT_DTYPE)
    events["x"], events["y"], events["t"], events["p"] = x, y, t, p
    return events


def as_events(array, where: str = "events") -> np.ndarray:
    """Any structured array with fields x, y, t, p (e.g. tonic's, or
    expelliarmus' with bool/uint8 p) -> EVENT_DTYPE; a typed error otherwise."""
    array = np.asarray(array)
    names = array.dtype.names or ()
    missing = [f for f in EVENT_DTYPE.names if f not in names]
    if missing:
        raise EventFormatError(f"{where}: not an event array: missing field(s) {', '.join(missing)} "
                               f"(got dtype {array.dtype})")
    if array.ndim != 1:
        raise EventFormatError(f"{where}: events must be one-dimensional, got shape {array.shape}")
    for f in EVENT_DTYPE.names:
        kind = array.dtype[f].kind
        if kind not in "iub":
            raise EventFormatError(f"{where}: field {f!r} must be integer, got {array.dtype[f]}")
    if array.dtype == EVENT_DTYPE:
        return array
    for f in ("x", "y"):
        if len(array) and (array[f].min() < 0 or array[f].max() > MAX_COORD):
            raise EventFormatError(f"{where}: field {f!r} outside 0..{MAX_COORD}")
    return make_events(array["x"], array["y"], array["t"], array["p"])


def check_events(events: np.ndarray, sensor_size=None, where: str = "events",
                 after_us: int | None = None) -> np.ndarray:
    """Validate an event array: non-negative, non-decreasing timestamps (also
    across chunks: none before `after_us`), p in {0, 1}, coordinates on the
    sensor. Returns it as EVENT_DTYPE."""
    events = as_events(events, where)
    if not len(events):
        return events
    t = events["t"]
    if t[0] < 0:
        raise EventFormatError(f"{where}: negative timestamp {int(t[0])} us")
    if after_us is not None and t[0] < after_us:
        raise EventFormatError(f"{where}: timestamp {int(t[0])} us goes back before {after_us} us")
    back = np.flatnonzero(np.diff(t) < 0)
    if len(back):
        i = int(back[0])
        raise EventFormatError(f"{where}: timestamps decrease at event {i + 1} ({int(t[i])} -> {int(t[i + 1])} us)")
    bad_p = np.flatnonzero((events["p"] != 0) & (events["p"] != 1))
    if len(bad_p):
        raise EventFormatError(f"{where}: polarity {int(events['p'][bad_p[0]])} at event {int(bad_p[0])}; expected 0 or 1")
    if sensor_size is not None:
        w, h = int(sensor_size[0]), int(sensor_size[1])
        out = np.flatnonzero((events["x"] < 0) | (events["x"] >= w) | (events["y"] < 0) | (events["y"] >= h))
        if len(out):
            e = events[out[0]]
            raise EventFormatError(f"{where}: event {int(out[0])} at ({int(e['x'])}, {int(e['y'])}) "
                                   f"is outside the {w}x{h} sensor")
    return events
