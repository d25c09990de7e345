"""The valid files the fuzzers mutate (tests/fuzz_worker.py, tests/fuzz_commands.py):
the 6 NetX files lava-dl ships, and small lava-msf networks holding every key
and layer type the NetX superset added (numpy and h5py only).

Each seed is (name, kind, path): kind "dataset" runs on its `meta` dataset
(check, run, report, stream), kind "inputs" on an array file (`run --inputs`)."""

import io
import json
import zipfile
from pathlib import Path

import h5py
import numpy as np

from lava_msf import fixedpoint as fx
from lava_msf.events import synth
from lava_msf.graph import Layer, Network
from lava_msf.netfile import write_net
from lava_msf.neurons.sdnn import SdnnParams

NETX_DIR = Path(__file__).resolve().parents[1] / ".venv/lib/python3.10/site-packages/tests/lava/lib/dl/netx"
NETX_FILES = {"netx-tiny": "tiny.net", "netx-mnist": "mnist.net", "netx-ntidigits": "gts/ntidigits/ntidigits.net",
              "netx-pilotnet-lif": "gts/pilotnet_lif/network.net",
              "netx-pilotnet-sdnn": "gts/pilotnet_sdnn/network.net",
              "netx-pilotnet-sdnn-square": "gts/pilotnet_sdnn/square_network.net"}
# LOIHI's keys NetX reads and does not compute with (lava_msf/neurons/lif.py)
LOIHI = fx.LifParams(vth_mant=80, i_decay=1024, v_decay=512,
                     netx=(("type", "LOIHI"), ("refDelay", 2), ("messageBits", 0), ("wgtExp", 0),
                           ("scaleRho", 1.5), ("tauRho", 2.0), ("theta", 0.25)))


def _w(rng, *shape, lo=-40, hi=60):
    return rng.integers(lo, hi, shape) * 2


def dvs_net() -> Network:
    """dvs-synth sized: input (2, 32, 32) -> strided conv + SN -> membrane
    shortcut merge -> SN -> SDSA -> conv -> token mean -> dense (10 classes)."""
    rng = np.random.default_rng(0)
    w = lambda *s: rng.integers(-60, 60, s) * 2  # noqa: E731
    layers = [Layer("input", "input", (2, 32, 32)),
              Layer("c1", "conv", (4, 8, 8), (0,), neuron=fx.LifParams(), weight=w(4, 2, 4, 4),
                    bias=rng.integers(-9, 9, 4), attrs={"stride": 4}),
              Layer("c2", "conv", (4, 8, 8), (1,), weight=w(4, 4, 1, 1)),
              Layer("c3", "conv", (4, 8, 8), (1,), weight=w(4, 4, 3, 3), attrs={"padding": 1}),
              Layer("merge", "merge", (4, 8, 8), (2, 3)),
              Layer("sn", "neuron", (4, 8, 8), (4,), neuron=fx.LifParams()),
              Layer("attn", "sdsa", (4, 8, 8), (5, 5, 5), neuron=fx.LifParams(vth_mant=16),
                    attrs={"variant": "v2", "heads": 2, "scale": 4}),
              Layer("c4", "conv", (4, 8, 8), (6,), weight=w(4, 4, 1, 1)),
              Layer("mean", "mean", (4, 1, 1), (7,), attrs={"scale_mant": 7, "scale_shift": 8}),
              Layer("fc", "dense", (10, 1, 1), (8,), weight=w(10, 4))]
    data = {"dataset": "dvs-synth", "bin_us": synth.DURATION_US // 4, "duration_us": synth.DURATION_US,
            "sensor_size": [32, 32, 2], "classes": list(synth.CLASSES)}
    return Network(layers, timesteps=4, meta={"input": "frames", "data": data}).validate()


def lif_net() -> Network:
    """NetX's input layer with a LOIHI neuron and its weight/bias transform; a conv
    with (y, x) stride, padding and dilation, groups and a per-output delay; dense
    delays per input and per synapse; dense_rec; an average readout."""
    rng = np.random.default_rng(1)
    layers = [Layer("input", "input", (2, 7, 6), neuron=LOIHI, attrs={"transform": {"weight": 32, "bias": 3}}),
              Layer("conv", "conv", (4, 4, 4), (0,), neuron=LOIHI, weight=_w(rng, 4, 1, 3, 2),
                    attrs={"stride": (2, 1), "padding": (1, 0), "dilation": (1, 2), "groups": 2},
                    delay=np.array([0, 2, 1, 3])),
              Layer("d_in", "dense", (6, 1, 1), (1,), neuron=fx.LifParams(vth_mant=60), weight=_w(rng, 6, 64),
                    delay=rng.integers(0, 4, 64)),
              Layer("d_full", "dense", (6, 1, 1), (2,), neuron=fx.LifParams(vth_mant=60), weight=_w(rng, 6, 6),
                    delay=rng.integers(0, 3, (6, 6))),
              Layer("rec", "dense_rec", (4, 1, 1), (3,), neuron=fx.LifParams(vth_mant=60), weight=_w(rng, 4, 6),
                    attrs={"weight_rec": _w(rng, 4, 4, lo=-30, hi=20)}),
              Layer("avg", "average", (2, 1, 1), (4,))]
    return Network(layers, timesteps=4, meta={"input": "frames"}).validate()


def sdnn_net() -> Network:
    """SDNN: a Delta input, SigmaDelta conv (bias, (y, x) stride) and dense
    (messageBits), a Sigma output."""
    rng = np.random.default_rng(2)
    sd = SdnnParams(vth_mant=4)
    layers = [Layer("input", "input", (3, 8, 6), neuron=SdnnParams(vth_mant=1, form="delta")),
              Layer("conv", "conv", (4, 3, 5), (0,), neuron=sd, weight=_w(rng, 4, 3, 3, 2),
                    bias=rng.integers(-20, 20, 4), attrs={"stride": (2, 1)}),
              Layer("fc", "dense", (5, 1, 1), (1,), neuron=SdnnParams(vth_mant=2, message_bits=12),
                    weight=_w(rng, 5, 60)),
              Layer("out", "dense", (3, 1, 1), (2,), neuron=SdnnParams(form="sigma"), weight=_w(rng, 3, 5))]
    return Network(layers, timesteps=4, meta={"input": "frames"}).validate()


def dense_prediction_net() -> Network:
    """pool, convT (stride, groups), unpool, concat, behind a conv of SN."""
    rng = np.random.default_rng(0)
    w = lambda *s: rng.integers(-60, 60, s) * 2  # noqa: E731
    layers = [Layer("input", "input", (2, 6, 6)),
              Layer("c1", "conv", (4, 6, 6), (0,), neuron=fx.LifParams(), weight=w(4, 2, 3, 3),
                    bias=rng.integers(-9, 9, 4), attrs={"padding": 1}),
              Layer("pool", "pool", (4, 3, 3), (1,), neuron=fx.LifParams(), weight=np.full((1, 1, 2, 2), 64)),
              Layer("up", "convT", (4, 6, 6), (2,), neuron=fx.LifParams(), weight=w(4, 2, 2, 2),
                    bias=rng.integers(-9, 9, 4), attrs={"stride": 2, "groups": 2}),
              Layer("unpool", "unpool", (4, 6, 6), (2,), neuron=fx.LifParams(), weight=np.full((1, 1, 2, 2), 64)),
              Layer("cat", "concat", (8, 6, 6), (3, 4))]
    return Network(layers, timesteps=4, meta={"input": "frames"}).validate()


BUILT = {"dvs": (dvs_net, "dataset"), "lif": (lif_net, "inputs"), "sdnn": (sdnn_net, "inputs"),
         "dense-prediction": (dense_prediction_net, "inputs")}


def seeds(work: Path, names=None) -> list:
    """[(name, kind, path)]: the built networks written under `work`, and the
    NetX files lava-dl ships (those found; `names` selects)."""
    out = []
    for name, (make, kind) in BUILT.items():
        if names is None or name in names:
            path = work / f"{name}.net"
            write_net(make(), path)
            out.append((name, kind, path))
    for name, rel in NETX_FILES.items():
        if (names is None or name in names) and (NETX_DIR / rel).is_file():
            out.append((name, "inputs", NETX_DIR / rel))
    return out


def frames(shape: tuple, graded: bool, steps: int = 4, seed: int = 0) -> np.ndarray:
    """One sample (1, C, H, W, T) for `run --inputs`: spikes, or small currents for an input neuron."""
    rng = np.random.default_rng(seed)
    if graded:
        return rng.integers(-40, 200, (1, *shape, steps)).astype(np.int32)
    return rng.random((1, *shape, steps)) < 0.3


# ---------------------------------------------------------------- .net mutations
HOSTILE = (0, 1, -1, 2, 3, 62, 63, 64, 2 ** 15, 2 ** 31 - 1, -2 ** 31, 2 ** 40, 2 ** 62, -2 ** 62, True,
           float("inf"), float("-inf"), float("nan"), 0.5, -1.5, 1e30, "x", "")
PAIRS = ([2, 1], [1, 2], [1, 3], [0, 1], [1, 0], [-1, 1], [3, 3, 3], [2 ** 31, 1], [1, 1], [0, 0], [2, 2])
META_HOSTILE = ("string", ["a", "list"], 7, None, {"nested": {}}, -1, 2 ** 62, 1e308)
TYPE_NAMES = ("input", "conv", "dense", "dense_rec", "dense_comp", "average", "pool", "convT", "unpool", "concat",
              "flatten", "merge", "neuron", "sdsa", "mean", "CONV", "x" * 300)
NEURON_TYPES = ("CUBA", "LOIHI", "SDNN", "RF", "RF_IZ", "ADRF", "PLIF", "cuba", "")
# keys NetX files may carry, added where a group lacks them
LAYER_KEYS = ("delay", "weight_rec", "dilation", "groups", "stride", "padding", "kernelSize", "wgtExp", "bias",
              "inFeatures", "outFeatures", "inChannels", "outChannels", "weight", "neuron", "valueShift", "inputs")
NEURON_KEYS = ("sigma_output", "gradedSpike", "spike_exp", "state_exp", "messageBits", "scaleRho", "tauRho",
               "theta", "wgtExp", "activation", "refDelay", "vThMant", "iDecay", "vDecay", "cxType")


def places(path: Path) -> list:
    """Every mutable place: (group path, name, 'dataset'|'attr'|'meta'|'add')."""
    with h5py.File(path, "r") as f:
        out = [("/", name, "attr") for name in ("timesteps", "format_version") if name in f.attrs]
        if "meta" in f.attrs:
            meta = json.loads(f.attrs["meta"])
            out += [("/", f"meta.{k}.{sub}", "meta") for k, v in meta.items() if isinstance(v, dict) for sub in v]
            out += [("/", f"meta.{k}", "meta") for k in meta]

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out.append((str(Path("/" + name).parent), Path(name).name, "dataset"))
            elif isinstance(obj, h5py.Group) and name.startswith("layer/") and name.count("/") in (1, 2):
                keys = NEURON_KEYS if name.endswith("neuron") else LAYER_KEYS
                out.extend(("/" + name, k, "add") for k in keys if k not in obj)
        f.visititems(visit)
    return out


def label(f, group: str, name: str, kind: str) -> str:
    """What the case's count is kept under: 'TYPE/KEY', 'TYPE/neuron/KEY', 'attr/KEY' or 'meta.KEY'."""
    if kind == "meta":
        return name
    if kind == "attr" or not group.startswith("/layer/"):
        return f"attr/{name}"
    layer = group[: group.index("/neuron")] if group.endswith("/neuron") else group
    try:
        t = f[layer]["type"][()]
        t = (t.reshape(-1)[0] if isinstance(t, np.ndarray) else t)
        t = t.decode() if isinstance(t, bytes) else str(t)
    except (KeyError, ValueError, TypeError, IndexError):
        t = "?"
    neuron = "neuron/" if group.endswith("/neuron") else ""
    return f"{t[:20]}/{neuron}{name}"


def _value(rng, name: str, old):
    """A hostile value for key `name` (old: its dataset, or None when added)."""
    r = rng.random()
    if name == "type":
        names = NEURON_TYPES if old is not None and "neuron" in old.name else TYPE_NAMES
        return names[rng.integers(len(names))]
    if name in ("delay", "weight_rec", "bias", "weight") and r < 0.5:
        size = int(old.size) if old is not None else int(rng.integers(1, 70))
        shape = old.shape if old is not None and r < 0.3 else (size,) if r < 0.4 else (int(rng.integers(1, 9)),) * 2
        return rng.integers(-3 if rng.random() < 0.2 else 0, (70 if name == "delay" else 300), shape)
    if r < 0.3:
        return PAIRS[rng.integers(len(PAIRS))]
    if r < 0.35:
        return "delete"
    return HOSTILE[rng.integers(len(HOSTILE))]


def mutate_net(src: Path, dst: Path, rng) -> tuple:
    """Copy `src` to `dst` with one key changed, deleted or added: (description, label)."""
    where = places(src)
    # a key that is there (most cases), a NetX key added, a top-level attribute or `meta`
    by_kind = {k: [p for p in where if (p[2] in ("attr", "meta")) == (k == "top") and (p[2] == "add") == (k == "add")]
               for k in ("dataset", "add", "top")}
    kinds = [k for k in by_kind if by_kind[k]]
    weights = np.array([{"dataset": 0.6, "add": 0.3, "top": 0.1}[k] for k in kinds])
    chosen = by_kind[kinds[rng.choice(len(kinds), p=weights / weights.sum())]]
    group, name, kind = chosen[rng.integers(len(chosen))]
    dst.write_bytes(src.read_bytes())
    with h5py.File(dst, "r+") as f:
        key = label(f, group, name, kind)
        if kind == "meta":
            meta = json.loads(f.attrs["meta"])
            value = META_HOSTILE[rng.integers(len(META_HOSTILE))]
            parts = name.split(".")[1:]
            (meta[parts[0]] if len(parts) == 2 else meta)[parts[-1]] = value
            f.attrs["meta"] = json.dumps(meta)
            return f"{name} = {value!r}", key
        value = _value(rng, name, f[group][name] if kind == "dataset" else None)
        if kind == "attr":
            if value == "delete":
                del f.attrs[name]
            elif isinstance(value, list):
                f.attrs[name] = np.array(value)
            else:
                f.attrs[name] = value if not isinstance(value, float) or np.isfinite(value) else np.float64(value)
            return f"attr {name} = {value!r}", key
        old = f[group][name] if kind == "dataset" else None
        shape = old.shape if old is not None else ()
        if kind == "dataset":
            del f[group][name]
        if isinstance(value, str) and value == "delete":
            return f"{group}/{name} deleted" if kind == "dataset" else f"{group}/{name} not added", key
        if isinstance(value, str):
            data = np.array(value.encode()) if rng.random() < 0.5 else h5py.string_dtype()
            if not isinstance(data, np.ndarray):
                f[group].create_dataset(name, data=value, dtype=data)  # variable-length, as lava-dl writes
                return f"{group}/{name} = {value[:40]!r} (vlen)", key
        elif isinstance(value, (list, np.ndarray)):
            data = np.asarray(value)
        elif old is not None and shape and rng.random() < 0.5 and old.dtype.kind in "biuf":  # one element
            data = old[()].astype(np.float64 if isinstance(value, float) else np.int64)
            data.flat[rng.integers(data.size)] = value
        else:
            data = np.full(shape, value) if not isinstance(value, bool) else np.bool_(value)
        f[group].create_dataset(name, data=data)
        text = f"{data.tolist()}"[:60] if isinstance(data, np.ndarray) else repr(value)
        return f"{group}/{name} = {text}" + ("" if kind == "dataset" else " (added)"), key


# ---------------------------------------------------------------- input-file mutations
PICKLE_MARKER = "UNPICKLED"  # a pickled payload creates this file when loaded


class _Payload:
    """Unpickled, it creates the marker file (nothing must ever unpickle it)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def _npy_header(path: Path, shape: tuple, descr: str = "<i4", tail: int = 64) -> None:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    path.write_bytes(buf.getvalue() + bytes(tail))


INPUT_KINDS = ("legit", "dtype", "nonfinite", "range", "rank", "huge", "object", "pickle", "structured",
               "truncated", "bytes", "npz", "h5-link", "h5-odd", "empty")


def mutate_inputs(x: np.ndarray, work: Path, rng) -> tuple:
    """A hostile array file made from the valid frames `x`: (path, description, kind).
    Legitimate variants (other integer dtypes, a float holding integers, no sample
    axis, Fortran order, .npz/.h5 containers) must run as the frames do."""
    kind = INPUT_KINDS[rng.integers(len(INPUT_KINDS))]
    suffix = (".npy", ".npz", ".h5")[rng.integers(3)]
    path = work / f"in{suffix}"
    marker = work / PICKLE_MARKER
    what = kind
    arrays = None
    if kind == "legit":
        forms = {"int8": lambda: x.astype(np.int8) if x.max() < 128 else x.astype(np.int16),
                 "float64": lambda: x.astype(np.float64), "int16-be": lambda: x.astype(">i2"),
                 "no-sample-axis": lambda: x[0], "fortran": lambda: np.asfortranarray(x.astype(np.int32)),
                 "uint8": lambda: np.abs(x).astype(np.uint8) if x.min() >= 0 else x.astype(np.int64)}
        what = list(forms)[rng.integers(len(forms))]
        arrays = {"x": forms[what]()}
    elif kind == "dtype":
        forms = {"complex": np.complex64, "float16": np.float16, "S4": "S4", "U2": "U2", "datetime": "M8[s]",
                 "timedelta": "m8[s]", "void": "V4", "bool": np.bool_}
        what = list(forms)[rng.integers(len(forms))]
        arrays = {"x": x.astype(forms[what])}
    elif kind == "nonfinite":
        y = x.astype(np.float32 if rng.random() < 0.5 else np.float64)
        value = (np.nan, np.inf, -np.inf, 0.5, 1e30)[rng.integers(5)]
        y.flat[rng.integers(y.size)] = value
        what, arrays = f"{y.dtype} with {value}", {"x": y}
    elif kind == "range":
        y = x.astype(np.int64 if rng.random() < 0.5 else np.uint64)
        v = (2 ** 40, 2 ** 62, 2 ** 63 - 1, -2 ** 63, 2 ** 31, 2 ** 24, -2 ** 24, 255, 256)[rng.integers(9)]
        if y.dtype == np.uint64 and v < 0:
            v = 2 ** 64 - 1
        y.flat[rng.integers(y.size)] = v
        what, arrays = f"{y.dtype} value {v}", {"x": y}
    elif kind == "rank":
        forms = {"scalar": lambda: np.array(3), "flat": lambda: x.reshape(-1), "extra axis": lambda: x[None],
                 "axes swapped": lambda: np.swapaxes(x, 1, 2), "T = 0": lambda: x[..., :0],
                 "N = 0": lambda: x[:0], "channel dropped": lambda: x[:, :-1] if x.shape[1] > 1 else x[:, :, :-1]}
        what = list(forms)[rng.integers(len(forms))]
        arrays = {"x": forms[what]()}
    elif kind == "huge":
        shape = (1 << int(rng.integers(20, 40)), *x.shape[1:-1], 1 << int(rng.integers(10, 30)))
        what = f"declared {shape}"
        if suffix == ".npy":
            _npy_header(path, shape)
        elif suffix == ".npz":
            buf = io.BytesIO()
            np.lib.format.write_array_header_1_0(buf, {"descr": "<i4", "fortran_order": False, "shape": shape})
            with zipfile.ZipFile(path, "w") as z:
                z.writestr("x.npy", buf.getvalue() + bytes(64))
        else:
            with h5py.File(path, "w") as f:
                f.create_dataset("x", shape=shape, dtype="<i4", chunks=(1,) * (len(shape) - 1) + (1 << 10,))
        return path, what, kind
    elif kind in ("object", "pickle"):
        payload = np.empty(x.shape if kind == "object" else (1,), dtype=object)
        payload.flat[0] = _Payload(marker)
        if suffix == ".h5":
            suffix, path = ".npy", work / "in.npy"
        if suffix == ".npy":
            np.save(path, payload, allow_pickle=True)
        else:
            np.savez(path, x=payload)
        return path, f"pickled object array ({kind})", kind
    elif kind == "structured":
        y = np.zeros(x.shape, dtype=[("a", "<i4"), ("b", "<f4")])
        arrays = {"x": y}
    elif kind in ("truncated", "bytes"):
        path = work / f"in{suffix}"
        _write(path, {"x": x.astype(np.int16)})
        raw = bytearray(path.read_bytes())
        if kind == "truncated":
            cut = int(rng.integers(0, len(raw)))
            raw = raw[:cut]
            what = f"cut at {cut} of {path.stat().st_size} bytes"
        else:
            for _ in range(int(rng.integers(1, 8))):
                raw[int(rng.integers(len(raw)))] = int(rng.integers(256))
            what = "bytes overwritten"
        path.write_bytes(bytes(raw))
        return path, what, kind
    elif kind == "npz":
        suffix, path = ".npz", work / "in.npz"
        forms = {"two arrays": {"x": x, "y": x}, "none": {}, "non-.npy member": None}
        what = list(forms)[rng.integers(len(forms))]
        if forms[what] is None:
            with zipfile.ZipFile(path, "w") as z:
                z.writestr("x.txt", "not an array")
            return path, what, kind
        np.savez(path, **forms[what])
        return path, what, kind
    elif kind in ("h5-link", "h5-odd"):
        path = work / "in.h5"
        other = work / "other.h5"
        with h5py.File(other, "w") as f:
            f.create_dataset("x", data=x)
        with h5py.File(path, "w") as f:
            forms = ("external link", "soft link", "dangling soft link", "virtual", "external storage") \
                if kind == "h5-link" else ("group only", "compound", "vlen string", "scalar", "empty shape",
                                           "huge chunks", "two datasets", "attribute only")
            what = forms[rng.integers(len(forms))]
            if what == "external link":
                f["x"] = h5py.ExternalLink(str(other), "x")
            elif what == "soft link":
                f.create_dataset("data", data=x)
                f["x"] = h5py.SoftLink("/data")
            elif what == "dangling soft link":
                f["x"] = h5py.SoftLink("/nowhere")
            elif what == "virtual":
                layout = h5py.VirtualLayout(shape=x.shape, dtype=x.dtype)
                layout[...] = h5py.VirtualSource(str(other), "x", shape=x.shape)
                f.create_virtual_dataset("x", layout)
            elif what == "external storage":
                raw = work / "raw.bin"
                raw.write_bytes(x.astype("<i4").tobytes())
                f.create_dataset("x", shape=x.shape, dtype="<i4", external=[(str(raw), 0, h5py.h5f.UNLIMITED)])
            elif what == "group only":
                f.create_group("x")
            elif what == "compound":
                f.create_dataset("x", data=np.zeros(x.shape, dtype=[("a", "<i4"), ("b", "<f4")]))
            elif what == "vlen string":
                f.create_dataset("x", data=["a", "b"], dtype=h5py.string_dtype())
            elif what == "scalar":
                f.create_dataset("x", data=3)
            elif what == "empty shape":
                f.create_dataset("x", shape=None, dtype="<i4")
            elif what == "huge chunks":
                f.create_dataset("x", shape=(1, *x.shape[1:-1], 1 << 30), dtype="<i4",
                                 chunks=(1, *x.shape[1:-1], 1 << 22))
            elif what == "two datasets":
                f.create_dataset("x", data=x)
                f.create_dataset("y", data=x)
            else:
                f.attrs["x"] = x.reshape(-1)[:16]
        return path, what, kind
    else:  # empty file
        path.write_bytes(b"")
        return path, "empty file", kind
    try:
        _write(path, arrays)
    except (TypeError, ValueError):  # a dtype HDF5 cannot store: the same array as .npy
        path = work / "in.npy"
        _write(path, arrays)
    return path, what, kind


def _write(path: Path, arrays: dict) -> None:
    if path.suffix == ".npy":
        np.save(path, next(iter(arrays.values())), allow_pickle=False)
    elif path.suffix == ".npz":
        np.savez(path, **arrays)
    else:
        with h5py.File(path, "w") as f:
            for k, v in arrays.items():
                f.create_dataset(k, data=v)
