"""Hostile event input: field values that do not fit are refused alike by every
layout of every reader (never wrapped or truncated), sizes are bounded before
anything is allocated, and a long silence is skipped, not streamed. The risky
cases run in a child process under a 3 GiB address-space limit (as
tests/fuzz_worker.py does), so that a regression fails a test instead of
filling the machine."""

import json
import re
import resource
import subprocess
import sys

import h5py
import numpy as np
import pytest

from conftest import REPO
from lava_msf.errors import ConfigError
from lava_msf.events import EventFormatError, ToFrames, make_events, open_events, write_events
from lava_msf.events.binning import EventBinner

ADDRESS_SPACE = 3 << 30
SENSOR = (40, 30, 2)


def limited(code: str, timeout=120) -> dict:
    """Run `code` in a child under the address-space limit; it prints one JSON line."""
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))

    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          preexec_fn=limit)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def good(n=6):
    return {"x": np.arange(n) % 40, "y": np.arange(n) % 30, "t": np.arange(n) * 1000, "p": np.arange(n) % 2}


def write_layout(path, layout, fields):
    """The same fields as an .npz or .h5, member-wise or as one structured array."""
    if layout == "structured":
        arr = np.zeros(len(fields["t"]), dtype=[(k, v.dtype) for k, v in fields.items()])
        for k, v in fields.items():
            arr[k] = v
        fields = {"events": arr}
    if path.suffix == ".npz":
        np.savez(path, sensor_size=np.array(SENSOR), **fields)
    else:
        with h5py.File(path, "w") as f:
            f.attrs["sensor_size"] = SENSOR
            for k, v in fields.items():
                f.create_dataset(k, data=v)


BAD_FIELDS = {  # field -> (values, expected message)
    "x = 65541": ("x", np.array([1, 65541, 2, 3, 4, 5], dtype=np.int32),
                  r"field 'x' = 65541 at event 1 is outside 0\.\.32767"),
    "x = -1": ("x", np.array([1, 2, -1, 3, 4, 5], dtype=np.int16), r"field 'x' = -1 at event 2 is outside"),
    "p = 257": ("p", np.array([0, 1, 257, 0, 1, 0], dtype=np.int16), r"polarity 257 at event 2; expected 0 or 1"),
    "t NaN": ("t", np.array([0, 1, np.nan, 3, 4, 5]), r"field 't' must be integer, got float64"),
    "t float": ("t", np.arange(6) * 1.5, r"field 't' must be integer, got float64"),
    "t = 2**64-1": ("t", np.array([0, 1, 2, 3, 4, 2 ** 64 - 1], dtype=np.uint64),
                    r"field 't' = 18446744073709551615 us at event 5 is outside 0\.\.\d+ us"),
    "t = 2**62": ("t", np.array([0, 1, 2, 3, 4, 2 ** 62], dtype=np.int64), r"field 't' = 4611686018427387904 us"),
}


@pytest.mark.parametrize("case", BAD_FIELDS)
def test_fields_that_do_not_fit_are_refused_alike_in_every_layout(tmp_path, case):
    key, values, message = BAD_FIELDS[case]
    seen = set()
    for suffix in (".npz", ".h5"):
        for layout in ("fields", "structured"):
            fields = {**good(), key: values}
            path = tmp_path / f"{layout}{suffix}"
            write_layout(path, layout, fields)
            with pytest.raises(EventFormatError) as e:
                open_events(path).read()
            text = str(e.value)
            assert text.startswith(str(path)) and "\n" not in text and re.search(message, text), text
            seen.add(re.sub(r"^.*?: (?=field|polarity)", "", text))
    assert len(seen) == 1, seen  # the four paths say the same
    # the in-memory constructor applies the same check
    with pytest.raises(EventFormatError, match=message):
        make_events(**{**good(), key: values})


def test_legitimate_fields_of_any_integer_dtype_read_exactly(tmp_path):
    fields = {"x": np.array([0, 39, 5], np.uint16), "y": np.array([29, 0, 3], np.int64),
              "t": np.array([0, 2 ** 40, 2 ** 62 - 1], np.uint64), "p": np.array([True, False, True])}
    for suffix in (".npz", ".h5"):
        for layout in ("fields", "structured"):
            write_layout(tmp_path / f"{layout}{suffix}", layout, fields)
            ev = open_events(tmp_path / f"{layout}{suffix}").read()
            for k, v in fields.items():
                assert ev[k].tolist() == v.astype(np.int64).tolist()


def test_sensor_sizes_are_bounded_with_one_line_naming_the_file(tmp_path):
    cases = {}
    for enc, suffix in (("dat", ".dat"), ("evt3", ".raw")):
        header = b"% geometry 100000000000000000000000x5\n" + (b"% evt 3.0\n" if enc == "evt3" else b"")
        cases[f"geo{suffix}"] = (header + (bytes(2) if enc == "dat" else b""), "over 6 digits")
    cases["zero.dat"] = (b"% Width 0\n% Height 10\n" + bytes(2), "sensor width 0 outside 1..32768")
    cases["wide.dat"] = (b"% geometry 40000x30\n" + bytes(2), "sensor width 40000 outside 1..32768")
    cases["long.dat"] = (b"% " + b"9" * 70000 + b"\n" + bytes(2), "longer than 65536 bytes")
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(EventFormatError, match=message) as e:
            open_events(tmp_path / name)
        assert str(e.value).startswith(str(tmp_path / name))
    with h5py.File(tmp_path / "big.h5", "w") as f:
        f.attrs["sensor_size"] = [10 ** 18, 10 ** 18]
    with pytest.raises(EventFormatError, match="big.h5: attribute sensor_size: sensor width 10+ outside"):
        open_events(tmp_path / "big.h5")
    np.savez(tmp_path / "five.npz", sensor_size=np.array([40, 30, 2, 7, 7]), **good())
    with pytest.raises(EventFormatError, match="five.npz: sensor_size must be 2 or 3 integers"):
        open_events(tmp_path / "five.npz")
    write_events(tmp_path / "ok.npz", make_events(**good()))
    for given, message in (((0, 30), "width 0"), ((40, 2 ** 40), "height 1099511627776"), ((40.5, 30), "integers")):
        with pytest.raises(ConfigError, match=f"ok.npz: the given sensor size: .*{message}"):
            open_events(tmp_path / "ok.npz", given)
    with h5py.File(tmp_path / "scalar.h5", "w") as f:
        f.create_dataset("events", data=5)
    with pytest.raises(EventFormatError, match="scalar.h5: dataset /events must be one-dimensional"):
        open_events(tmp_path / "scalar.h5").read()


def test_parameters_are_checked_at_library_level(tmp_path):
    write_events(tmp_path / "ok.npz", make_events(**good()), SENSOR)
    f = open_events(tmp_path / "ok.npz")
    for n in (0, -3, 1 << 40, 2.5):
        with pytest.raises(ConfigError, match="--chunk-events must be an integer in 1.."):
            next(f.chunks(n))
    shape = (2, 32, 32)
    for kw, message in (({"bin_us": 0}, "--bin-us must be in 1.."), ({"bin_us": -5}, "--bin-us"),
                        ({"bin_us": 1.5}, "--bin-us must be an integer"), ({"bin_us": True}, "--bin-us"),
                        ({"bin_us": 10, "t0": -10 ** 18}, "--start-us must be in 0.."),
                        ({"bin_us": 10, "max_silence_us": -1}, "--max-silence-us")):
        with pytest.raises(ConfigError, match=message):
            EventBinner((64, 64, 2), shape, **kw)
    with pytest.raises(ConfigError, match="sensor width 0"):
        EventBinner((0, 64, 2), shape, 10)
    binner = EventBinner((64, 64, 2), shape, 10)
    with pytest.raises(EventFormatError, match="now_us must be in 0.."):
        list(binner.push((make_events(**good())[:0], -5)))
    with pytest.raises(ConfigError, match="n_bins must be at least 1"):
        ToFrames(SENSOR, 0)


def test_sizes_are_refused_before_allocation_under_a_memory_limit():
    r = limited("""
import json
from lava_msf.errors import LavaMsfError
from lava_msf.events import Denoise, ToFrames, make_events, to_frames
ev = make_events([1], [1], [10 ** 12], [1])
out = {}
for name, call in {"to_frames": lambda: to_frames(ev, (64, 64), 1, 10 ** 9),
                   "ToFrames": lambda: ToFrames((64, 64, 2), 10 ** 9)(ev),
                   "Denoise": lambda: Denoise((32768, 32768), 1000)}.items():
    try:
        call()
        out[name] = "allocated"
    except LavaMsfError as e:
        out[name] = str(e)
print(json.dumps(out))
""")
    for name, message in r.items():
        assert "GiB" in message and "is allowed" in message, (name, message)


def _stream_file(path, **kw):
    """Stream a file through the binner under the memory limit; bins emitted, skips."""
    return limited(f"""
import json
from lava_msf.events import open_events
from lava_msf.events.binning import EventBinner
f = open_events({str(path)!r}, {SENSOR[:2]!r})
b = EventBinner(f.sensor_size, (2, 30, 30), **{kw!r})
bins = [k for c in f.chunks(1000) for k, _, _ in b.push(c)] + [k for k, _, _ in b.flush()]
print(json.dumps({{"bins": len(bins), "first": bins[:3], "last": bins[-3:], "skips": b.skips,
                  "skipped": b.skipped_bins, "events": b.events}}))
""")


def _gap_events(gap_us: int, n=400):
    ev = make_events(10 + np.arange(n) % 20, np.arange(n) % 30, np.arange(n) * 100, np.arange(n) % 2)
    ev["t"][n // 2:] += gap_us
    return ev


def _write_dat(path, ev):
    from expelliarmus import Wizard

    arr = np.zeros(len(ev), dtype=[("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "u1")])
    for k in ("t", "x", "y", "p"):
        arr[k] = ev[k]
    Wizard(encoding="dat").save(path, arr)


@pytest.mark.parametrize("suffix", [".npz", ".h5", ".aedat4", ".dat"])
def test_a_huge_timestamp_gap_streams_in_bounded_time_and_memory(tmp_path, suffix):
    path = tmp_path / f"gap{suffix}"
    if suffix == ".dat":
        # DAT stores 32-bit timestamps; the reader unwraps a decrease as +2**32 us
        ev = _gap_events(0)
        ev["t"][200:] = np.arange(200) * 10
        _write_dat(path, ev)
        last_t = (1 << 32) + 1990
    elif suffix == ".aedat4":
        dv = pytest.importorskip("dv_processing")  # a test extra (pyproject)
        last_t = (1 << 61) + 39900
        store = dv.EventStore()
        for e in _gap_events(1 << 61):
            store.push_back(int(e["t"]), int(e["x"]), int(e["y"]), bool(e["p"]))
        writer = dv.io.MonoCameraWriter(str(path), dv.io.MonoCameraWriter.EventOnlyConfig("T", SENSOR[:2]))
        writer.writeEvents(store)
        del writer
    else:
        last_t = (1 << 61) + 39900
        write_events(path, _gap_events(1 << 61), SENSOR)
    # 10 us bins, windows of 4 bins, at most 1 ms of silence streamed
    r = _stream_file(path, bin_us=10, period=4, max_silence_us=1000)
    assert r["events"] == 400 and r["skips"] == 1
    assert r["first"] == [0, 1, 2] and r["bins"] < 2 * 2000 + 200  # two bursts of 20 ms, plus 1 ms of silence
    last_bin = last_t // 10
    assert r["last"][-1] == last_bin and r["skipped"] == last_bin + 1 - r["bins"]
    # a stream that starts at 0 with events first at 2**61 us: the leading silence is skipped as well
    if suffix == ".npz":
        ev = _gap_events(0)
        ev["t"] += 1 << 61
        write_events(path, ev, SENSOR)
        r = _stream_file(path, bin_us=10, period=4, t0=0, max_silence_us=1000)
        assert r["skips"] == 1 and r["first"] == [0, 1, 2] and r["bins"] < 104 + 4000


def _bins(binner, chunks):
    out = [(k, f.sum(), n) for c in chunks for k, f, n in binner.push(c)]
    return out + [(k, f.sum(), n) for k, f, n in binner.flush()]


def test_silence_policy_is_independent_of_chunking_and_clock_ticks():
    ev = _gap_events(5000, n=40)  # 20 events 100 us apart, 5 ms of silence, 20 more
    ev["x"], ev["y"] = 3, 3
    whole = _bins(EventBinner((16, 16, 2), (2, 16, 16), 100, 0, 4, max_silence_us=1000), [ev])
    ks = [k for k, _, _ in whole]
    # bins 0..19 (events), then empty ones to 19 + 10 (1 ms) rounded up to a period of 4: 20..31;
    # the next event is in bin 70: resume at 68
    assert ks == list(range(32)) + list(range(68, 90))
    assert sum(n for _, _, n in whole) == 40
    ticked = [ev[:5], (ev[:0], 500), ev[5:20], (ev[:0], 2500), (ev[:0], 6000), ev[20:33], ev[33:]]
    for chunks in ([ev[i:i + 3] for i in range(0, 40, 3)], ticked):
        assert _bins(EventBinner((16, 16, 2), (2, 16, 16), 100, 0, 4, max_silence_us=1000), chunks) == whole
    everything = _bins(EventBinner((16, 16, 2), (2, 16, 16), 100, 0, 4, max_silence_us=None), [ev])
    assert [k for k, _, _ in everything] == list(range(90))
    # the streamed bins are the same frames either way
    assert [b for b in everything if b[0] in set(ks)] == whole


def test_whole_file_reads_and_storage_chunks_are_bounded(tmp_path, monkeypatch):
    from lava_msf.events import core

    ev = make_events(np.arange(3000) % 40, np.arange(3000) % 30, np.arange(3000), np.arange(3000) % 2)
    write_events(tmp_path / "ok.h5", ev, SENSOR)
    monkeypatch.setattr(core, "memory_budget", lambda: 50_000)  # bytes: ~1500 events with their copy
    with pytest.raises(EventFormatError, match=r"ok.h5: reading \d+\+ events whole .* GiB"):
        open_events(tmp_path / "ok.h5").read()
    assert sum(len(c) for c in open_events(tmp_path / "ok.h5").chunks(1000)) == 3000  # chunks still stream
    with h5py.File(tmp_path / "bomb.h5", "w") as f:  # a 512 MiB storage chunk, nothing written
        f.create_dataset("events", shape=(1 << 26,), dtype=np.dtype([("x", "<i2"), ("y", "<i2"), ("t", "<i8"),
                                                                       ("p", "<i1")]), chunks=(1 << 26,))
    with pytest.raises(EventFormatError, match="bomb.h5: dataset /events is stored in chunks of 67108864 items"):
        open_events(tmp_path / "bomb.h5").read()


def _aedat4_with_geometry(tmp_path, name, size_x: bytes, size_y: bytes = b"24"):
    """A dv-processing AEDAT4 file (declared 10000x24, events at x 60..69) whose
    stream description then declares `size_x` x `size_y`. The description's
    length is kept (the FlatBuffer header stores it) by trimming or padding the
    typeDescription text."""
    dv = pytest.importorskip("dv_processing")  # a test extra (pyproject)
    base = tmp_path / "base.aedat4"
    if not base.exists():
        store = dv.EventStore()
        for i in range(10):
            store.push_back(i * 100, 60 + i, 5, bool(i % 2))
        writer = dv.io.MonoCameraWriter(str(base), dv.io.MonoCameraWriter.EventOnlyConfig("T", (10000, 24)))
        writer.writeEvents(store)
        del writer
    raw = base.read_bytes()
    old = {key: b'<attr key="%s" type="int">%s</attr>' % (key, v) for key, v in ((b"sizeX", b"10000"),
                                                                                 (b"sizeY", b"24"))}
    new = {b"sizeX": old[b"sizeX"].replace(b"10000", size_x), b"sizeY": old[b"sizeY"].replace(b">24<", b">%s<" % size_y)}
    desc = b"Custom data type output."
    room = len(desc) - sum(len(new[k]) - len(old[k]) for k in old)
    assert room >= 0 and all(raw.count(v) == 1 for v in (*old.values(), desc))
    for k in old:
        raw = raw.replace(old[k], new[k])
    path = tmp_path / f"{name}.aedat4"
    path.write_bytes(raw.replace(desc, desc[:room].ljust(room)))
    assert path.stat().st_size == base.stat().st_size
    return path


AEDAT4_GEOMETRY = {  # name -> (sizeX, sizeY, expected message)
    "zero": (b"00000", b"24", r"sizeX '00000' is not a sensor size in 1\.\.32768"),
    "negative": (b"-1000", b"24", r"sizeX '-1000' is not a sensor size"),
    "past int16": (b"40000", b"24", r"sizeX '40000' is not a sensor size"),
    "past u16": (b"99999", b"24", r"sizeX '99999' is not a sensor size"),
    "10^23": (b"1" + b"0" * 23, b"24", r"sizeX '100000000000000000000000' is not a sensor size"),
    "huge height": (b"10000", b"9" * 20, r"sizeY '99999999999999999999' is not a sensor size"),
    "float": (b"100.5", b"24", r"sizeX '100.5' is not a sensor size"),
    "text": (b"wide!", b"24", r"sizeX 'wide!' is not a sensor size"),
    "empty": (b"", b"24", r"sizeX '' is not a sensor size"),
    "events off the sensor": (b"00050", b"24", r"event 0 at \(60, 5\) is outside the 50x24 sensor"),
}


@pytest.mark.parametrize("case", AEDAT4_GEOMETRY)
def test_aedat4_hostile_geometry_is_one_typed_line_naming_the_file(tmp_path, case):
    size_x, size_y, message = AEDAT4_GEOMETRY[case]
    path = _aedat4_with_geometry(tmp_path, "hostile", size_x, size_y)
    with pytest.raises(EventFormatError) as e:
        open_events(path).read()
    text = str(e.value)
    assert text.startswith(f"{path}: ") and "\n" not in text and len(text) < 300 and re.search(message, text), text
    # the untouched geometry reads: the crafting itself is sound
    ok = open_events(_aedat4_with_geometry(tmp_path, "ok", b"10000"))
    assert ok.sensor_size == (10000, 24, 2) and ok.read()["x"].tolist() == list(range(60, 70))
