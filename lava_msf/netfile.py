"""The `.net` file: a lava_msf.graph.Network in lava-dl NetX HDF5, extended.

A strict superset of NetX (see docs/hdf5-format.md): `layer/<i>` groups with
NetX's keys for input/conv/dense layers and their `neuron/` group (a plain NetX
file's `simulation/tSample` gives T); lava-msf adds
layer types (neuron, merge, sdsa, mean), per-layer `inputs` (graph edges; absent
means "the previous layer", NetX's wiring), `name`, `wgtExp`, and top-level
attributes `format`, `format_version`, `timesteps`, `meta` (JSON).
Each layer type reads and writes its own keys (lava_msf.layers); this module
walks the file. Reading validates everything and raises NetFileError naming
file, layer and key; writing is atomic. Plain NetX files (e.g. from lava-dl
SLAYER's export_hdf5) read as sequential networks.
"""

import json
import math
from pathlib import Path

import h5py
import numpy as np

from .atomic import atomic_h5
from .errors import GraphError, NetFileError
from .graph import MAX_TIMESTEPS, MEMORY_FRACTION, WEIGHT_BYTES, Layer, Network, memory_budget
from .layers import TYPES, hdf5, spec
from .layers.base import COMMON_KEYS
from .neurons import read_neuron, write_neuron

FORMAT = "lava-msf-net"
FORMAT_VERSION = 1
MAX_LAYERS = 1 << 12

__all__ = ["FORMAT", "FORMAT_VERSION", "NetFileError", "read_net", "write_net"]


# --- writing ------------------------------------------------------------------

def write_net(net: Network, path) -> None:
    """Write `net` atomically; the file is readable by lava-dl NetX when the
    network is sequential and uses only NetX's layer types."""
    net.validate(str(path))
    with atomic_h5(path) as f:
        f.attrs["format"] = FORMAT
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["timesteps"] = int(net.timesteps)
        f.attrs["meta"] = json.dumps(net.meta, sort_keys=True)
        # NetX wires layers in file order and needs a 'flatten' group before a
        # dense layer fed by the (C, H, W) layer just before it (not by another
        # dense one: NetX's are flat already); lava-msf's reader skips them.
        file_index, n = [], 0
        for i, layer in enumerate(net.layers):
            # (not after a dense-like layer: its NetX output port is flat already, and NetX cannot flatten it)
            if spec(layer).netx_flatten and layer.inputs == (i - 1,) and not spec(net.layers[i - 1]).netx_flatten:
                hdf5.write_string(f.create_group(f"layer/{n}"), "type", "flatten")
                f[f"layer/{n}"].create_dataset("shape", data=np.array(net.layers[i - 1].shape, dtype=np.int64))
                n += 1
            file_index.append(n)
            _write_layer(f.create_group(f"layer/{n}"), i, layer, net, file_index)
            n += 1


def _write_layer(g, i, layer: Layer, net: Network, file_index: list) -> None:
    hdf5.write_string(g, "type", layer.type)
    g.create_dataset("shape", data=np.array(layer.shape, dtype=np.int64))
    g.attrs["name"] = layer.name
    if i and tuple(layer.inputs) != (i - 1,):
        g.create_dataset("inputs", data=np.array([file_index[j] for j in layer.inputs], dtype=np.int64))
    if layer.bias is not None:
        g.create_dataset("bias", data=layer.bias.astype(np.int32))
    spec(layer).write(g, layer, net)
    if layer.neuron is not None:
        write_neuron(g.create_group("neuron"), layer.neuron)


# --- reading ------------------------------------------------------------------

def read_net(path, input_shape: tuple | None = None) -> Network:
    """Read and validate a .net file (lava-msf's or plain NetX).

    input_shape (C, H, W) is needed only for NetX files without an input layer.
    """
    path = Path(path)
    with hdf5.open_file(path) as f:
        try:
            return _read(f, path, input_shape)
        except GraphError as e:
            raise NetFileError(str(e)) from None
        except (KeyError, ValueError, TypeError, OSError, RuntimeError, OverflowError) as e:  # h5py, corrupt files
            raise NetFileError(f"{path}: unreadable content ({type(e).__name__}: {str(e)[:160]})") from None


def _attr_int(f, key, path, lo, hi, default):
    """A top-level integer attribute in lo..hi."""
    value = hdf5.attr(f, key, path, default)
    try:
        ok = np.ndim(value) == 0 and float(value) == int(value)
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok or not lo <= int(value) <= hi:
        raise NetFileError(f"{path}: attribute {key!r} must be an integer in {lo}..{hi}, got {str(value)[:40]}")
    return int(value)


def _read(f, path, input_shape) -> Network:
    fmt = hdf5.attr(f, "format", path)
    meta, timesteps = {}, 0
    if fmt is not None:
        fmt = fmt.decode("ascii", "replace") if isinstance(fmt, bytes) else str(fmt)
        if fmt != FORMAT:
            raise NetFileError(f"{path}: format {fmt[:40]!r} is not {FORMAT!r}")
        if "format_version" not in f.attrs:
            raise NetFileError(f"{path}: missing or bad format_version")
        version = _attr_int(f, "format_version", path, -(1 << 62), 1 << 62, None)
        if version > FORMAT_VERSION:
            raise NetFileError(f"{path}: format_version {version} is newer than this lava-msf reads ({FORMAT_VERSION})")
        if version < 1:
            raise NetFileError(f"{path}: missing or bad format_version")
        timesteps = _attr_int(f, "timesteps", path, 0, MAX_TIMESTEPS, 0)
        meta = _meta(f, path)
    elif "simulation" in f and isinstance(f["simulation"], h5py.Group) and "tSample" in f["simulation"]:
        # lava-dl's export: the training sample length, lava-msf's T (stock NetX ignores it)
        timesteps = hdf5.integer(f["simulation"], "tSample", f"{path}: simulation", 0, MAX_TIMESTEPS)
    if "layer" not in f or not isinstance(f["layer"], h5py.Group):
        raise NetFileError(f"{path}: no 'layer' group")
    group = f["layer"]
    if len(group) > MAX_LAYERS:
        raise NetFileError(f"{path}: 'layer' holds {len(group)} groups, more than {MAX_LAYERS}")
    _check_declared_sizes(f, path)
    names = sorted(group.keys(), key=lambda k: int(k) if k.isdigit() else -1)
    if names != [str(i) for i in range(len(names))] or not names:
        raise NetFileError(f"{path}: 'layer' must hold groups '0'..'n-1', found {sorted(group.keys())[:8]}")

    layers, index = [], {}  # file index -> graph index (NetX flatten layers vanish)
    for i in range(len(names)):
        at = f"{path}: layer {i}"
        g = group[str(i)]
        if not isinstance(g, h5py.Group):
            raise NetFileError(f"{at}: must be a group")
        kind = hdf5.string(g, "type", at)
        if kind == "flatten":
            index[i] = len(layers) - 1
            continue
        if kind not in TYPES:
            raise NetFileError(f"{at}: unknown layer type {kind[:40]!r}")
        if not layers and spec(kind).arity[1]:
            if input_shape is None:
                raise NetFileError(f"{at}: the file has no input layer; give the input shape (C, H, W)")
            layers.append(Layer("input", "input", tuple(int(d) for d in input_shape)))
        if "inputs" in g:
            raw = hdf5.ints(g, "inputs", at).reshape(-1)
            if any(j < 0 or j >= i for j in raw) or len(raw) > spec(kind).arity[1]:
                raise NetFileError(f"{at}: key 'inputs' {raw.tolist()[:8]} must name earlier layers (no cycles)")
            inputs = tuple(index[int(j)] for j in raw)
        else:
            inputs = () if not spec(kind).arity[1] else (len(layers) - 1,)
        index[i] = len(layers)
        layers.append(_read_layer(g, kind, inputs, i, at))
        if fmt is None:  # plain NetX: what stock NetX would compute differently is refused here
            spec(kind).netx_read(layers[-1], at)
    return Network(layers, timesteps, meta).validate(str(path))


def _check_declared_sizes(f, path) -> None:
    """Compressed datasets can declare far more than the file holds: bound the
    total before reading any (int64 and BLAS copies, as memory_need counts)."""
    sizes = []
    f.visititems(lambda name, obj: sizes.append(int(obj.size)) if isinstance(obj, h5py.Dataset) else None)
    need_bytes, budget = WEIGHT_BYTES * sum(sizes), memory_budget()
    if need_bytes > budget:
        raise NetFileError(f"{path}: its datasets declare {sum(sizes)} values ({need_bytes / 2**30:.1f} GiB read), "
                           f"more than {budget / 2**30:.1f} GiB (1/{MEMORY_FRACTION} of this machine's memory)")


def _meta(f, path) -> dict:
    """The `meta` attribute: a JSON object; what run and stream read from it is typed here."""
    raw = hdf5.attr(f, "meta", path, "{}")
    try:
        meta = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError):
        raise NetFileError(f"{path}: attribute 'meta' is not JSON") from None
    if not isinstance(meta, dict):
        raise NetFileError(f"{path}: attribute 'meta' must be a JSON object")
    for key, kind in (("data", dict), ("config", dict), ("input", str), ("quantization", dict),
                      ("spike_modules", dict), ("readout_scale", (int, float))):
        if key in meta and not _is(meta[key], kind):
            raise NetFileError(f"{path}: meta {key!r} must be {_KIND_NAMES[kind]}")
    data = meta.get("data", {})
    for key, kind in (("dataset", str), ("bin_us", int), ("duration_us", int), ("classes", list)):
        if key in data and not _is(data[key], kind):
            raise NetFileError(f"{path}: meta 'data.{key}' must be {_KIND_NAMES[kind]}")
    if not 0 < data.get("bin_us", 1) <= MAX_BIN_US:
        raise NetFileError(f"{path}: meta 'data.bin_us' must be in 1..{MAX_BIN_US}")
    if not all(isinstance(c, str) for c in data.get("classes", [])):
        raise NetFileError(f"{path}: meta 'data.classes' must be a list of strings")
    return meta


MAX_BIN_US = 1 << 40  # an event bin of at most 12 days (the stream's clock is int64 us)
_KIND_NAMES = {dict: "a JSON object", str: "a string", int: "an integer", list: "a list",
               (int, float): "a finite number"}


def _is(value, kind) -> bool:
    if isinstance(value, bool):
        return False
    if kind == (int, float):
        return isinstance(value, kind) and math.isfinite(value)
    return isinstance(value, kind)


def _read_layer(g, kind, inputs, i, at) -> Layer:
    t = spec(kind)
    extra = sorted(set(g.keys()) - COMMON_KEYS - t.keys)
    if extra:
        raise NetFileError(f"{at}: unexpected key {extra[0][:40]!r} for a {kind} layer")
    shape = tuple(int(d) for d in hdf5.ints(g, "shape", at).reshape(-1))
    if len(shape) == 1:
        shape = (shape[0], 1, 1)
    if len(shape) != 3:
        raise NetFileError(f"{at}: key 'shape' must be (C, H, W), got {shape[:8]}")
    if any(d < 1 for d in shape) or math.prod(shape) > hdf5.MAX_ELEMENTS:
        raise NetFileError(f"{at}: key 'shape' {shape} is out of range")
    name = hdf5.attr(g, "name", at, f"layer{i}")
    name = name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)
    layer = Layer(name[:200], kind, shape, inputs)
    if "bias" in g:
        layer.bias = hdf5.ints(g, "bias", at).reshape(-1)
    if "neuron" in g:
        layer.neuron = read_neuron(g["neuron"], f"{at}: neuron")
    elif t.neuron == "required":
        raise NetFileError(f"{at}: a {kind} layer needs a 'neuron' group")
    t.read(g, layer, at)  # after bias and neuron: a type may reinterpret them (NetX's input transform)
    return layer
