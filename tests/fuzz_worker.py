"""Property-based fuzzing of one reader, in its own process (tests/test_fuzz.py).

    python tests/fuzz_worker.py TARGET EXAMPLES

Every generated file must end in a typed error (LavaMsfError) or a valid result:
events that pass check_events on the stated sensor, a network that validates.
Target `netx` mutates the seeds of tests/fuzz_cases.py (the NetX files lava-dl
ships and networks holding every NetX key lava-msf added) one key at a time;
a network read also runs two steps of the reference executor, which must give
an output of its shape or a typed error. Target `inputs` reads hostile
`run --inputs` array files (pipeline.read_inputs): typed error, or integer
frames of the network's input shape; a pickled payload must never run.
Event fields written member-wise (x, y, t, p) are also written as one
structured array: both layouts must give the same outcome, and a valid one
must hold exactly the values written (nothing wrapped or truncated).
Anything else fails: another exception, a hang (over PER_EXAMPLE_S), an
allocation beyond the address-space limit (a MemoryError; a size field must not
drive allocation), or an interpreter crash (the parent sees the signal).
Prints one JSON line of outcome counts; exits 1 with the failing example.
"""

import collections
import faulthandler
import io
import json
import re
import resource
import signal
import sys
import tempfile
import zipfile
from pathlib import Path

import h5py
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fuzz_cases as fc
from lava_msf import fixedpoint as fx
from lava_msf.errors import LavaMsfError
from lava_msf.events import EVENT_DTYPE, check_events, make_events, open_events, write_events
from lava_msf.events.io import write_nmnist_bin
from lava_msf.graph import Layer, Network
from lava_msf.netfile import read_net, write_net

ADDRESS_SPACE = 3 << 30
PER_EXAMPLE_S = 20
CHUNK, MAX_CHUNKS = 97, 200
SENSOR = (40, 30, 2)
TARGETS = ("net", "netx", "inputs", "npz", "h5", "bin", "dat", "evt2", "evt3", "aedat4")
DTYPES = ("i1", "i2", "<i4", "<i8", "u1", "<u2", "<f4", "<f8", "?", ">i4")
outcomes = collections.Counter()
WORK = Path(tempfile.mkdtemp(prefix="lava-msf-fuzz-"))


def base_events(n=400, seed=0, w=SENSOR[0], h=SENSOR[1]):
    rng = np.random.default_rng(seed)
    return make_events(rng.integers(0, w, n), rng.integers(0, h, n),
                       np.sort(rng.integers(0, 10 ** 6, n)), rng.integers(0, 2, n))


def base_net() -> Network:
    rng = np.random.default_rng(0)
    w = lambda *s: rng.integers(-60, 60, s) * 2  # noqa: E731
    layers = [Layer("input", "input", (2, 6, 6)),
              Layer("c1", "conv", (4, 6, 6), (0,), neuron=fx.LifParams(), weight=w(4, 2, 3, 3),
                    bias=rng.integers(-9, 9, 4), attrs={"padding": 1}),
              Layer("c2", "conv", (4, 6, 6), (1,), weight=w(4, 4, 1, 1)),
              Layer("c3", "conv", (4, 6, 6), (1,), weight=w(4, 4, 1, 1)),
              Layer("merge", "merge", (4, 6, 6), (2, 3)),
              Layer("sn", "neuron", (4, 6, 6), (4,), neuron=fx.LifParams()),
              Layer("attn", "sdsa", (4, 6, 6), (5, 5, 5), neuron=fx.LifParams(vth_mant=16),
                    attrs={"variant": "v2", "heads": 2, "scale": 4}),
              Layer("mean", "mean", (4, 1, 1), (4,), attrs={"scale_mant": 7, "scale_shift": 8}),
              Layer("fc", "dense", (3, 1, 1), (7,), weight=w(3, 4)),
              Layer("pool", "pool", (4, 3, 3), (1,), neuron=fx.LifParams(), weight=np.full((1, 1, 2, 2), 64)),
              Layer("up", "convT", (4, 6, 6), (9,), neuron=fx.LifParams(), weight=w(4, 2, 2, 2),
                    bias=rng.integers(-9, 9, 4), attrs={"stride": 2, "groups": 2}),
              Layer("unpool", "unpool", (4, 6, 6), (9,), neuron=fx.LifParams(), weight=np.full((1, 1, 2, 2), 64)),
              Layer("cat", "concat", (8, 6, 6), (10, 11))]
    return Network(layers, timesteps=4, meta={"input": "frames"}).validate()


def _write_raw(encoding: str, path: Path) -> None:
    from expelliarmus import Wizard

    ev = base_events()
    arr = np.zeros(len(ev), dtype=[("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "u1")])
    for k in ("t", "x", "y", "p"):
        arr[k] = ev[k]
    Wizard(encoding=encoding).save(path, arr)


def _write_aedat4(path: Path) -> None:
    import dv_processing as dv

    store = dv.EventStore()
    for e in base_events():
        store.push_back(int(e["t"]), int(e["x"]), int(e["y"]), bool(e["p"]))
    writer = dv.io.MonoCameraWriter(str(path), dv.io.MonoCameraWriter.EventOnlyConfig("fuzz", SENSOR[:2]))
    writer.writeEvents(store)
    del writer


def base_file(target: str) -> Path:
    path = WORK / f"base.{target if target not in ('evt2', 'evt3') else 'raw'}"
    if target == "net":
        write_net(base_net(), path)
    elif target in ("npz", "h5"):
        write_events(path, base_events(), SENSOR)
    elif target == "bin":
        write_nmnist_bin(path, base_events(w=34, h=34))
    elif target == "dat":
        _write_raw("dat", path)
    elif target in ("evt2", "evt3"):
        _write_raw(target, path)
    else:
        _write_aedat4(path)
    return path


# ---------------------------------------------------------------- mutations
def byte_mutations(size: int):
    flips = st.lists(st.tuples(st.integers(0, max(0, size - 1)), st.integers(0, 255)), max_size=12)
    return st.tuples(flips, st.one_of(st.none(), st.integers(0, size)), st.binary(max_size=64))


def mutate_bytes(raw: bytes, mutation) -> bytes:
    flips, cut, tail = mutation
    data = bytearray(raw)
    for offset, value in flips:
        if offset < len(data):
            data[offset] = value
    if cut is not None:
        data = data[:cut]
    return bytes(data) + tail


EDGES = (-1, 255, 256, 257, 32767, 32768, 65535, 65541, 2 ** 31, 2 ** 62 - 1, 2 ** 62, 2 ** 63, 2 ** 64 - 1)


def field(n: int):
    """An event field: any dtype, values far outside the sensor or at the edges
    of the event dtype's ranges, any order."""
    values = st.one_of(st.integers(-2 ** 40, 2 ** 40), st.sampled_from(EDGES), st.integers(0, 40))
    return st.tuples(st.sampled_from(DTYPES), st.lists(values, min_size=n, max_size=n))


def event_fields():
    return st.integers(0, 40).flatmap(lambda n: st.tuples(
        field(n), field(n), field(n), field(n), st.booleans(), st.integers(0, 3)))


def _cast(spec):
    """Values as a writer of that dtype stores them: integers wrapped into its range."""
    dtype, values = np.dtype(spec[0]), spec[1]
    if dtype.kind in "iu":
        bits, lo = 8 * dtype.itemsize, -(1 << 8 * dtype.itemsize - 1) if dtype.kind == "i" else 0
        return np.array([(v - lo) % (1 << bits) + lo for v in values], dtype=dtype)
    with np.errstate(all="ignore"):
        return np.array(values, dtype=np.float64).astype(dtype)


def field_arrays(fields) -> dict:
    """Members x, y, t, p of arbitrary dtypes (and lengths, when a field is cut)."""
    x, y, t, p, sorted_t, cut = fields
    arrays = dict(x=_cast(x), y=_cast(y), t=_cast(t), p=_cast(p))
    if sorted_t:
        arrays["t"] = np.sort(arrays["t"])
    if cut:
        key = "xytp"[cut]
        arrays[key] = arrays[key][: len(arrays[key]) // 2]
    return arrays


def write_fields(path: Path, arrays: dict, structured: bool) -> None:
    if structured:  # the same fields as one structured member
        events = np.zeros(len(arrays["t"]), dtype=[(k, v.dtype) for k, v in arrays.items()])
        for k, v in arrays.items():
            events[k] = v
        arrays = {"events": events}
    if path.suffix == ".npz":
        np.savez(path, **arrays)
    else:
        with h5py.File(path, "w") as f:
            f.attrs["sensor_size"] = SENSOR
            for k, v in arrays.items():
                f.create_dataset(k, data=v)


def huge_events(path: Path, length: int) -> None:
    """A size field claiming `length` events with almost no data behind it."""
    if path.suffix == ".npz":
        header = {"descr": "<i8", "fortran_order": False, "shape": (length,)}
        buf = io.BytesIO()
        np.lib.format.write_array_header_1_0(buf, header)
        with zipfile.ZipFile(path, "w") as z:
            for k in "xytp":
                z.writestr(f"{k}.npy", buf.getvalue() + bytes(64))
    else:
        with h5py.File(path, "w") as f:
            f.attrs["sensor_size"] = SENSOR
            for k in "xytp":  # chunked and unwritten: reads return the fill value
                f.create_dataset(k, shape=(length,), dtype="<i8", chunks=(1 << 16,))


NET_VALUES = st.one_of(
    st.integers(-2 ** 62, 2 ** 62), st.floats(allow_nan=True), st.text(max_size=20),
    st.lists(st.integers(-2 ** 31, 2 ** 31), max_size=6), st.just("huge"), st.just("delete"))


def mutate_net(path: Path, choice: int, value) -> None:
    """Replace, retype or delete one dataset or attribute of a valid .net file."""
    with h5py.File(path, "r+") as f:
        items = []
        f.visititems(lambda name, obj: items.append(name) if isinstance(obj, h5py.Dataset) else None)
        items += [f"@{a}" for a in f.attrs]
        name = items[choice % len(items)]
        if name.startswith("@"):
            key = name[1:]
            if value == "delete":
                del f.attrs[key]
            else:
                f.attrs[key] = value if not isinstance(value, list) else np.array(value, dtype=np.int64)
            return
        parent, key = (name.rsplit("/", 1) + [""])[:2] if "/" in name else ("", name)
        group = f[parent] if parent else f
        del group[key]
        if value == "delete":
            return
        if value == "huge":  # declared far beyond memory, nothing stored
            group.create_dataset(key, shape=(1 << 31, 1 << 20), dtype="<i2", chunks=(1, 1 << 10))
        elif isinstance(value, str):
            group.create_dataset(key, data=np.bytes_(value.encode("utf-8")[:16]))
        elif isinstance(value, list):
            group.create_dataset(key, data=np.array(value, dtype=np.int64))
        else:
            group.create_dataset(key, data=value)


# ---------------------------------------------------------------- checks
class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang(f"no result within {PER_EXAMPLE_S} s")


def check_file(target: str, path: Path, record: bool = True):
    """Read the file; record the outcome; raise on anything but a typed error or
    a valid result. Returns the events read (empty for a .net) or the error's
    message without the path and member."""
    signal.setitimer(signal.ITIMER_REAL, PER_EXAMPLE_S)
    read = []
    try:
        if target == "net":
            net = read_net(path)
            net.validate("fuzzed")
            assert net.layers[0].type == "input"
        else:
            f = open_events(path, SENSOR[:2] if target in ("dat", "evt2", "evt3") else None)
            # Chunks come lazily: a file declaring 2**40 events streams without
            # allocating them; reading stops after MAX_CHUNKS.
            for i, chunk in enumerate(f.chunks(CHUNK)):
                checked = check_events(chunk, f.sensor_size, "fuzzed")  # must already hold
                assert len(checked) == len(chunk) <= CHUNK
                read.append(chunk)
                if i == MAX_CHUNKS:
                    break
        outcomes["valid"] += record
        return np.concatenate(read) if read else np.empty(0, EVENT_DTYPE)
    except LavaMsfError as e:
        outcomes[f"error:{type(e).__name__}"] += record
        return re.sub(r"^.*?(: (member|dataset) events)?: ", "", str(e))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def check_netx(path: Path, record: bool = True) -> None:
    """Read a mutated seed; a network read runs two reference steps."""
    from lava_msf.reference import Executor

    signal.setitimer(signal.ITIMER_REAL, PER_EXAMPLE_S)
    try:
        net = read_net(path)
        net.validate("fuzzed")
        layer, last = net.layers[0], net.layers[-1]
        if layer.size * 2 <= 1 << 20:
            x = fc.frames(layer.shape, layer.neuron is not None, steps=2).astype(np.int64)
            out = Executor(net).run(x, {})
            assert out.shape == (1, *last.shape, 2), out.shape
        outcomes["valid"] += record
    except LavaMsfError as e:
        outcomes[f"error:{type(e).__name__}"] += record
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def check_inputs(net, path: Path) -> None:
    """read_inputs: a typed error or integer frames (N, C, H, W, T) of the input's shape."""
    from lava_msf.pipeline import read_inputs

    before = path.read_bytes() if path.is_file() else None
    signal.setitimer(signal.ITIMER_REAL, PER_EXAMPLE_S)
    try:
        x, where, _ = read_inputs(net, str(path))
        assert x.dtype == np.int64 and x.ndim == 5 and x.shape[1:4] == net.layers[0].shape, x.shape
        raw = _raw(path)
        if net.meta.get("input") != "image" or raw.dtype.kind != "f":  # else pixels, quantized
            assert np.array_equal(x, raw.reshape(x.shape).astype(np.float64)), "values changed on reading"
        outcomes["valid"] += 1
    except LavaMsfError as e:
        outcomes[f"error:{type(e).__name__}"] += 1
        assert "\n" not in str(e) and path.name in str(e), str(e)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    assert not (WORK / fc.PICKLE_MARKER).exists(), "a pickled payload ran"
    assert (path.read_bytes() if path.is_file() else None) == before, "the input file changed"


def _raw(path: Path) -> np.ndarray:
    """The array as numpy or h5py reads it (a file read_inputs accepted)."""
    if path.suffix == ".h5":
        with h5py.File(path, "r") as f:
            names = []
            f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
            return f[names[0]][()]
    if path.suffix == ".npy":
        return np.load(path, allow_pickle=False)
    with np.load(path, allow_pickle=False) as a:
        return a[a.files[0]]


def run_netx(examples: int) -> None:
    seeds = fc.seeds(WORK)
    for _, _, p in seeds:
        check_netx(p)
    assert outcomes["valid"] == len(seeds), "the unmutated seeds must read and run"
    path = WORK / "case.net"

    @settings(max_examples=examples - len(seeds) + 1, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(st.integers(0, len(seeds) - 1), st.integers(0, 2 ** 32 - 1), st.booleans())
    def fuzz(index, seed, raw):
        base = seeds[index][2]
        rng = np.random.default_rng(seed)
        if raw:  # bytes of the file
            data = bytearray(base.read_bytes())
            for _ in range(int(rng.integers(1, 12))):
                data[int(rng.integers(len(data)))] = int(rng.integers(256))
            path.write_bytes(bytes(data))
        else:
            fc.mutate_net(base, path, rng)
        print(f"case: seed {seeds[index][0]}, rng {seed}, raw {raw}", file=sys.stderr, flush=True)
        check_netx(path)

    fuzz()


INPUT_NETS = ("lif", "sdnn", "dense-prediction")


def run_inputs(examples: int) -> None:
    import dataclasses

    nets = [read_net(p) for _, _, p in fc.seeds(WORK, INPUT_NETS)]
    nets.append(dataclasses.replace(nets[-1], meta={"input": "image"}))  # reals are pixels in [0, 1] here
    for net in nets:
        np.save(WORK / "in.npy", fc.frames(net.layers[0].shape, net.layers[0].neuron is not None))
        check_inputs(net, WORK / "in.npy")
    assert outcomes["valid"] == len(nets), "the unmutated frames must read"

    @settings(max_examples=examples - len(nets) + 1, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(st.integers(0, len(nets) - 1), st.integers(0, 2 ** 32 - 1))
    def fuzz(index, seed):
        net = nets[index]
        x = fc.frames(net.layers[0].shape, net.layers[0].neuron is not None, seed=seed % 7)
        path, _, _ = fc.mutate_inputs(x, WORK, np.random.default_rng(seed))
        check_inputs(net, path)
        path.unlink()

    fuzz()


def run(target: str, examples: int) -> None:
    if target == "netx":
        return run_netx(examples)
    if target == "inputs":
        return run_inputs(examples)
    base = base_file(target)
    raw = base.read_bytes()
    check_file(target, base)
    assert outcomes["valid"] == 1, "the unmutated file must read"
    path = WORK / f"case{base.suffix}"
    strategies = [byte_mutations(len(raw)).map(lambda m: ("bytes", m))]
    if target in ("npz", "h5"):
        strategies += [event_fields().map(lambda v: ("fields", v)),
                       st.integers(1 << 30, 1 << 50).map(lambda n: ("huge", n))]
    if target == "net":
        strategies += [st.tuples(st.integers(0, 10 ** 6), NET_VALUES).map(lambda v: ("net", v))]

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(st.one_of(*strategies))
    def fuzz(case):
        kind, arg = case
        if kind == "bytes":
            path.write_bytes(mutate_bytes(raw, arg))
        elif kind == "fields":
            arrays = field_arrays(arg)
            write_fields(path, arrays, structured=False)
            got = check_file(target, path)
            if not isinstance(got, str):  # exactly the values written
                assert all(got[k].tolist() == [int(v) for v in a] for k, a in arrays.items()), (arrays, got)
            if len({len(a) for a in arrays.values()}) == 1:
                write_fields(path, arrays, structured=True)
                again = check_file(target, path, record=False)
                assert type(again) is type(got) and (np.array_equal(again, got) if isinstance(got, np.ndarray)
                                                      else again == got), (got, again)
            return
        elif kind == "huge":
            huge_events(path, arg)
        else:
            path.write_bytes(raw)
            mutate_net(path, *arg)
        check_file(target, path)

    fuzz()


def main() -> int:
    target, examples = sys.argv[1], int(sys.argv[2])
    if target not in TARGETS:
        raise SystemExit(f"unknown target {target!r}; one of {TARGETS}")
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    faulthandler.enable()  # a crash in C (h5py, numpy) shows where it happened
    signal.signal(signal.SIGALRM, _alarm)
    run(target, examples)
    print(json.dumps({"target": target, "examples": sum(outcomes.values()), **outcomes}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
