"""Event readers and writers (every format, chunked, corrupt files), transforms
(also tonic's on our arrays), the dvs-synth simulator and local datasets."""

import numpy as np
import pytest

from lava_msf.data import load_dataset
from lava_msf.data.events import DatasetNotFound
from lava_msf.events import (EVENT_DTYPE, Denoise, Downsample, EventFormatError, ToFrames, check_events, make_events,
                             open_events, read_events, to_frames, write_events)
from lava_msf.events import synth
from lava_msf.events.io import H5EventWriter, write_nmnist_bin


def random_events(n=3000, w=40, h=30, seed=0, t_max=10 ** 6):
    rng = np.random.default_rng(seed)
    return make_events(rng.integers(0, w, n), rng.integers(0, h, n), np.sort(rng.integers(0, t_max, n)),
                       rng.integers(0, 2, n))


@pytest.mark.parametrize("suffix", [".npz", ".h5"])
def test_npz_h5_round_trip_chunked(tmp_path, suffix):
    ev = random_events()
    path = tmp_path / f"rec{suffix}"
    write_events(path, ev, (40, 30, 2))
    f = open_events(path)
    assert f.sensor_size == (40, 30, 2)
    np.testing.assert_array_equal(f.read(), ev)
    chunks = list(f.chunks(chunk_events=700))
    assert [len(c) for c in chunks] == [700] * 4 + [200]
    np.testing.assert_array_equal(np.concatenate(chunks), ev)


def test_field_layouts_and_streamed_h5_writer(tmp_path):
    ev = random_events()
    np.savez(tmp_path / "fields.npz", x=ev["x"], y=ev["y"], t=ev["t"], p=ev["p"])
    np.testing.assert_array_equal(read_events(tmp_path / "fields.npz", (40, 30))[0], ev)
    with H5EventWriter(tmp_path / "long.h5", (40, 30, 2)) as w:
        for i in range(0, len(ev), 1000):
            w.write(ev[i:i + 1000])
    np.testing.assert_array_equal(read_events(tmp_path / "long.h5")[0], ev)


def test_h5_writer_failure_leaves_no_file(tmp_path):
    ev = random_events()
    with pytest.raises(EventFormatError, match="decrease|goes back"):
        with H5EventWriter(tmp_path / "bad.h5") as w:
            w.write(ev[1000:])
            w.write(ev[:1000])  # earlier than what was written
    assert list(tmp_path.iterdir()) == []


def test_nmnist_bin_with_overflow(tmp_path):
    ev = random_events(w=34, h=34, t_max=3 * (1 << 23))  # beyond the 23-bit field
    write_nmnist_bin(tmp_path / "00002.bin", ev)
    f = open_events(tmp_path / "00002.bin")
    assert f.sensor_size == (34, 34, 2)
    np.testing.assert_array_equal(np.concatenate(list(f.chunks(333))), ev)


def test_aedat4_via_dv_processing(tmp_path):
    dv = pytest.importorskip("dv_processing")  # a test extra (pyproject)
    ev = random_events(w=32, h=24)
    store = dv.EventStore()
    for e in ev:
        store.push_back(int(e["t"]), int(e["x"]), int(e["y"]), bool(e["p"]))
    writer = dv.io.MonoCameraWriter(str(tmp_path / "cam.aedat4"), dv.io.MonoCameraWriter.EventOnlyConfig("T", (32, 24)))
    writer.writeEvents(store)
    del writer
    f = open_events(tmp_path / "cam.aedat4")
    assert f.sensor_size == (32, 24, 2)
    np.testing.assert_array_equal(np.concatenate(list(f.chunks(500))), ev)
    raw = (tmp_path / "cam.aedat4").read_bytes()
    (tmp_path / "cut.aedat4").write_bytes(raw[:len(raw) // 2])
    with pytest.raises(EventFormatError, match="cut.aedat4"):
        open_events(tmp_path / "cut.aedat4").read()


def test_prophesee_dat_via_expelliarmus(tmp_path):
    from expelliarmus import Wizard

    ev = random_events(w=64, h=48)
    arr = np.zeros(len(ev), dtype=[("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "u1")])
    for k in ("t", "x", "y", "p"):
        arr[k] = ev[k]
    Wizard(encoding="dat").save(tmp_path / "rec.dat", arr)
    np.testing.assert_array_equal(read_events(tmp_path / "rec.dat", (64, 48))[0], ev)
    raw = (tmp_path / "rec.dat").read_bytes()
    (tmp_path / "cut.dat").write_bytes(raw[:-3])
    with pytest.raises(EventFormatError, match="truncated DAT"):
        read_events(tmp_path / "cut.dat", (64, 48))


def test_corrupt_and_hostile_files(tmp_path):
    ev = random_events()
    write_events(tmp_path / "ok.npz", ev, (40, 30, 2))
    raw = (tmp_path / "ok.npz").read_bytes()
    cases = {"cut.npz": raw[:len(raw) // 2], "noise.npz": bytes(range(256)) * 8, "noise.h5": b"\x89HDF\r\n" * 50,
             "cut.bin": bytes(12), "empty.h5": b""}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(EventFormatError, match=name):
            open_events(tmp_path / name).read()
    np.savez(tmp_path / "objects.npz", events=np.array([{"x": 1}], dtype=object))
    with pytest.raises(EventFormatError, match="object arrays are refused"):
        open_events(tmp_path / "objects.npz").read()
    backwards = ev.copy()
    backwards["t"][2000:] //= 2
    with pytest.raises(EventFormatError, match="decrease|goes back"):
        write_events(tmp_path / "back.h5", backwards)
    with pytest.raises(EventFormatError, match="outside the 20x30 sensor"):
        check_events(ev, (20, 30))
    with pytest.raises(EventFormatError, match="unknown event file type"):
        (tmp_path / "rec.txt").write_text("1 2 3 4")
        open_events(tmp_path / "rec.txt")
    # the order check holds across chunks of a file, too
    write_events(tmp_path / "ok.h5", ev)
    import h5py

    with h5py.File(tmp_path / "ok.h5", "r+") as f:
        data = f["events"][...]
        data["t"][2500] = 0
        f["events"][...] = data
    with pytest.raises(EventFormatError, match="ok.h5"):
        list(open_events(tmp_path / "ok.h5").chunks(1000))


def test_tonic_transforms_on_our_arrays():
    import tonic.transforms as T

    ev = random_events()
    theirs = T.ToFrame(sensor_size=(40, 30, 2), time_window=200000)(ev)  # whole windows from the first event
    ours = to_frames(ev, (40, 30), 200000, len(theirs), t0=int(ev["t"][0]))
    np.testing.assert_array_equal(ours, theirs)
    whole = ToFrames((40, 30, 2), n_bins=5, t0=0, duration_us=10 ** 6)(ev)
    assert whole.shape == (5, 2, 30, 40) and whole.sum() == len(ev)
    pipeline = T.Compose([T.Denoise(filter_time=10000), T.Downsample(spatial_factor=0.5)])
    out = pipeline(ev)
    assert out.dtype == EVENT_DTYPE and 0 < len(out) < len(ev) and out["x"].max() < 20
    np.testing.assert_array_equal(Downsample(2)(ev)["x"], ev["x"] // 2)


def test_denoise_chunked_equals_whole_and_removes_isolated_noise():
    ev = random_events(n=20000, t_max=2 * 10 ** 5)
    whole = Denoise((40, 30), 2000)(ev)
    d = Denoise((40, 30), 2000)
    chunked = np.concatenate([d(ev[i:i + 1777]) for i in range(0, len(ev), 1777)])
    np.testing.assert_array_equal(chunked, whole)
    lonely = make_events([5, 30], [5, 20], [100, 200], [1, 0])  # no neighbours at all
    assert len(Denoise((40, 30), 10 ** 6)(lonely)) == 0


def test_to_frames_bins_and_polarities():
    ev = make_events([0, 1, 1, 2], [0, 0, 0, 1], [0, 999, 1000, 5000], [1, 0, 1, 1])
    f = to_frames(ev, (3, 2), bin_us=1000, n_bins=3)
    assert f.shape == (3, 2, 2, 3) and f.sum() == 3  # the event at 5000 us is past the 3 bins
    assert f[0, 1, 0, 0] == 1 and f[0, 0, 0, 1] == 1 and f[1, 1, 0, 1] == 1
    assert to_frames(ev, (3, 2), 1000, 3, polarities=1).shape == (3, 1, 2, 3)


def test_dvs_synth_deterministic_classes():
    a = synth.recording(4, seed=0, split="test", index=7)
    np.testing.assert_array_equal(a, synth.recording(4, seed=0, split="test", index=7))
    assert not np.array_equal(a, synth.recording(4, seed=1, split="test", index=7))
    assert len(synth.CLASSES) >= 8
    check_events(a, (32, 32))
    assert a["t"].max() < synth.DURATION_US and set(np.unique(a["p"])) == {0, 1}
    big = synth.recording(6, 0, "train", 0, size=64)
    check_events(big, (64, 64))
    # zoom in brightens the growing shape's rim (ON), zoom out darkens it (OFF)
    zin, zout = synth.recording(6, 0, "train", 1), synth.recording(7, 0, "train", 2)
    assert zin["p"].mean() > 0.55 > 0.45 > zout["p"].mean()
    data = load_dataset("dvs-synth", "test", 32, 4, limit=20)
    assert data.x.shape == (20, 2, 32, 32, 4) and data.x.dtype == np.uint8 and set(np.unique(data.x)) <= {0, 1}
    assert list(data.y[:10]) == list(range(10)) and data.info["bin_us"] == synth.DURATION_US // 4


def test_local_tonic_datasets(tmp_path):
    with pytest.raises(DatasetNotFound, match="never downloads"):
        load_dataset("nmnist", "test", 32, 4, data_dir=tmp_path)
    for digit in range(10):
        folder = tmp_path / "NMNIST" / "Test" / str(digit)
        folder.mkdir(parents=True)
        for k in range(2):
            write_nmnist_bin(folder / f"{k:05d}.bin", random_events(200, 34, 34, seed=digit * 2 + k, t_max=300000))
    data = load_dataset("nmnist", "test", 32, 4, limit=10, data_dir=tmp_path)
    assert data.x.shape == (10, 2, 32, 32, 4) and sorted(data.y) == list(range(10))
    folder = tmp_path / "DVSGesture" / "ibmGestureTest" / "user01_led"
    folder.mkdir(parents=True)
    for label in range(3):
        ev = random_events(500, 128, 128, seed=label, t_max=6000)
        np.save(folder / f"{label}.npy", np.stack([ev["x"], ev["y"], ev["p"], ev["t"] // 1000 * 0 + ev["t"] // 1000], 1))
    gestures = load_dataset("dvsgesture", "test", 32, 4, data_dir=tmp_path)
    assert gestures.x.shape == (3, 2, 32, 32, 4) and gestures.num_classes == 11


def test_aedat4_non_ascii_description_is_a_typed_error(tmp_path):
    """Found by fuzzing: a non-ASCII character in the stream description made the
    aedat decoder abort the interpreter; it must be refused first (checked in a
    child process, so that a regression fails this test rather than the suite)."""
    pytest.importorskip("dv_processing")
    import subprocess
    import sys

    from conftest import REPO

    code = ("import sys; sys.path.insert(0, 'tests'); from pathlib import Path; import fuzz_worker as fw\n"
            f"fw._write_aedat4(Path({str(tmp_path / 'ok.aedat4')!r}))\n")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, capture_output=True)
    raw = (tmp_path / "ok.aedat4").read_bytes()
    at = raw.index(b"events</attr>") + len(b"events</")
    bad = tmp_path / "bad.aedat4"
    bad.write_bytes(raw[:at] + b"\xc6" + raw[at + 1:])  # the fuzzed case: '</attr>' -> '</\xc6ttr>'
    check = f"from lava_msf.events import open_events\nopen_events({str(bad)!r}).read()\n"
    proc = subprocess.run([sys.executable, "-c", check], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 1 and "EventFormatError" in proc.stderr, proc.stderr[-2000:]
    assert "malformed AEDAT4 stream description" in proc.stderr
