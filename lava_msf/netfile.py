"""The `.net` file: a lava_msf.graph.Network in lava-dl NetX HDF5, extended.

A strict superset of NetX (see docs/hdf5-format.md): `layer/<i>` groups with
NetX's keys for input/conv/dense layers and their `neuron/` group; lava-msf adds
layer types (neuron, merge, sdsa, mean), per-layer `inputs` (graph edges; absent
means "the previous layer", NetX's wiring), `name`, `wgtExp`, and top-level
attributes `format`, `format_version`, `timesteps`, `meta` (JSON).
Reading validates everything and raises NetFileError naming file, layer and key;
writing is atomic. Plain NetX files (e.g. from lava-dl SLAYER's export_hdf5)
read as sequential networks.
"""

import json
import math
from pathlib import Path

import h5py
import numpy as np

from .atomic import atomic_h5
from .errors import LavaMsfError
from .fixedpoint import DECAY_UNITY, LifParams
from .graph import LAYER_TYPES, GraphError, Layer, Network

FORMAT = "lava-msf-net"
FORMAT_VERSION = 1
MAX_ELEMENTS = 1 << 28  # refuse absurd sizes before allocating


class NetFileError(LavaMsfError):
    """A .net file is unreadable, inconsistent or of an unsupported version."""


# --- writing ------------------------------------------------------------------

def _string(group, key, value):
    group.create_dataset(key, (1,), "S16", [value.encode("ascii")])


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
        # dense layer fed by the layer just before it; lava-msf's reader skips them.
        file_index, n = [], 0
        for i, layer in enumerate(net.layers):
            if layer.type == "dense" and layer.inputs == (i - 1,):
                _string(f.create_group(f"layer/{n}"), "type", "flatten")
                f[f"layer/{n}"].create_dataset("shape", data=np.array(net.layers[i - 1].shape, dtype=np.int64))
                n += 1
            file_index.append(n)
            _write_layer(f.create_group(f"layer/{n}"), i, layer, net, file_index)
            n += 1


def _write_layer(g, i, layer: Layer, net: Network, file_index: list) -> None:
    _string(g, "type", layer.type)
    g.create_dataset("shape", data=np.array(layer.shape, dtype=np.int64))
    g.attrs["name"] = layer.name
    if layer.type == "input" and layer.attrs.get("value_shift"):
        g.create_dataset("valueShift", data=int(layer.attrs["value_shift"]))
    if layer.type != "input" and tuple(layer.inputs) != (i - 1,):
        g.create_dataset("inputs", data=np.array([file_index[j] for j in layer.inputs], dtype=np.int64))
    if layer.weight is not None:
        g.create_dataset("weight", data=layer.weight.astype(np.int16), compression="gzip")
        g.create_dataset("wgtExp", data=int(layer.weight_exp))
    if layer.bias is not None:
        g.create_dataset("bias", data=layer.bias.astype(np.int32))
    if layer.type == "conv":
        src = net.layers[layer.inputs[0]]
        g.create_dataset("inChannels", data=src.shape[0])
        g.create_dataset("outChannels", data=layer.shape[0])
        g.create_dataset("kernelSize", data=np.array(layer.weight.shape[2:], dtype=np.int64))
        for key in ("stride", "padding"):
            v = int(layer.attrs.get(key, 1 if key == "stride" else 0))
            g.create_dataset(key, data=np.array([v, v], dtype=np.int64))
        g.create_dataset("dilation", data=np.array([1, 1], dtype=np.int64))
        g.create_dataset("groups", data=int(layer.attrs.get("groups", 1)))
    elif layer.type == "dense":
        g.create_dataset("inFeatures", data=layer.weight.shape[1])
        g.create_dataset("outFeatures", data=layer.weight.shape[0])
    elif layer.type == "sdsa":
        _string(g, "variant", layer.attrs["variant"])
        g.create_dataset("heads", data=int(layer.attrs["heads"]))
        g.create_dataset("scale", data=int(layer.attrs["scale"]))
    elif layer.type == "mean":
        g.create_dataset("scaleMant", data=int(layer.attrs["scale_mant"]))
        g.create_dataset("scaleShift", data=int(layer.attrs["scale_shift"]))
    if layer.neuron is not None:
        for key, value in layer.neuron.netx_neuron().items():
            if key == "type":
                _string(g, "neuron/type", value)
            else:
                g.create_dataset(f"neuron/{key}", data=value)


# --- reading ------------------------------------------------------------------

NETX_UNSUPPORTED = ("pool", "convT", "unpool", "average", "concat", "dense_rec", "dense_comp")
_COMMON = {"type", "shape", "inputs", "neuron", "bias"}
_SYNAPSE = {"weight", "wgtExp"}
ALLOWED_KEYS = {
    "input": {"type", "shape", "valueShift"},
    "conv": _COMMON | _SYNAPSE | {"inChannels", "outChannels", "kernelSize", "stride", "padding", "dilation",
                                  "groups"},
    "dense": _COMMON | _SYNAPSE | {"inFeatures", "outFeatures"},
    "neuron": _COMMON,
    "merge": {"type", "shape", "inputs"},
    "sdsa": {"type", "shape", "inputs", "neuron", "variant", "heads", "scale"},
    "mean": {"type", "shape", "inputs", "scaleMant", "scaleShift"},
}
NEURON_KEYS = {"type", "iDecay", "vDecay", "vThMant", "refDelay", "gradedSpike"}


def read_net(path, input_shape: tuple | None = None) -> Network:
    """Read and validate a .net file (lava-msf's or plain NetX).

    input_shape (C, H, W) is needed only for NetX files without an input layer.
    """
    path = Path(path)
    if not path.is_file():
        raise NetFileError(f"{path}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise NetFileError(f"{path}: not an HDF5 file ({str(e).splitlines()[0][:120]})") from None
    with f:
        try:
            return _read(f, path, input_shape)
        except GraphError as e:
            raise NetFileError(str(e)) from None
        except (KeyError, ValueError, TypeError, OSError, RuntimeError) as e:  # h5py on corrupt files
            raise NetFileError(f"{path}: unreadable content ({type(e).__name__}: {str(e)[:160]})") from None


def _read(f, path, input_shape) -> Network:
    fmt = f.attrs.get("format")
    meta, timesteps = {}, None
    if fmt is not None:
        fmt = fmt.decode() if isinstance(fmt, bytes) else str(fmt)
        if fmt != FORMAT:
            raise NetFileError(f"{path}: format {fmt!r} is not {FORMAT!r}")
        version = int(f.attrs.get("format_version", -1))
        if version > FORMAT_VERSION:
            raise NetFileError(f"{path}: format_version {version} is newer than this lava-msf reads ({FORMAT_VERSION})")
        if version < 1:
            raise NetFileError(f"{path}: missing or bad format_version")
        timesteps = int(f.attrs.get("timesteps", 0)) or None
        try:
            meta = json.loads(f.attrs.get("meta", "{}"))
        except json.JSONDecodeError:
            raise NetFileError(f"{path}: attribute 'meta' is not JSON") from None
        if not isinstance(meta, dict):
            raise NetFileError(f"{path}: attribute 'meta' must be a JSON object")
    if "layer" not in f or not isinstance(f["layer"], h5py.Group):
        raise NetFileError(f"{path}: no 'layer' group")
    group = f["layer"]
    names = sorted(group.keys(), key=lambda k: int(k) if k.isdigit() else -1)
    if names != [str(i) for i in range(len(names))] or not names:
        raise NetFileError(f"{path}: 'layer' must hold groups '0'..'n-1', found {sorted(group.keys())[:8]}")

    layers, index = [], {}  # file index -> graph index (NetX flatten layers vanish)
    for i in range(len(names)):
        at = f"{path}: layer {i}"
        g = group[str(i)]
        kind = _str(g, "type", at)
        if kind == "flatten":
            index[i] = len(layers) - 1
            continue
        if kind in NETX_UNSUPPORTED:
            raise NetFileError(f"{at}: NetX layer type {kind!r} is not supported")
        if kind not in LAYER_TYPES:
            raise NetFileError(f"{at}: unknown layer type {kind!r}")
        if not layers and kind != "input":
            if input_shape is None:
                raise NetFileError(f"{at}: the file has no input layer; give the input shape (C, H, W)")
            layers.append(Layer("input", "input", tuple(int(d) for d in input_shape)))
        if "inputs" in g:
            raw = _ints(g, "inputs", at)
            if any(j < 0 or j >= i for j in raw):
                raise NetFileError(f"{at}: key 'inputs' {raw.tolist()} must name earlier layers (no cycles)")
            inputs = tuple(index[int(j)] for j in raw)
        else:
            inputs = () if kind == "input" else (len(layers) - 1,)
        index[i] = len(layers)
        layers.append(_read_layer(g, kind, inputs, at))
    return Network(layers, timesteps or 0, meta).validate(str(path))


def _read_layer(g, kind, inputs, at) -> Layer:
    extra = sorted(set(g.keys()) - ALLOWED_KEYS[kind])
    if extra:
        raise NetFileError(f"{at}: unexpected key {extra[0]!r} for a {kind} layer")
    shape = tuple(int(d) for d in _ints(g, "shape", at))
    if len(shape) == 1:
        shape = (shape[0], 1, 1)
    if len(shape) != 3:
        raise NetFileError(f"{at}: key 'shape' must be (C, H, W), got {shape}")
    if any(d < 1 for d in shape) or math.prod(int(d) for d in shape) > MAX_ELEMENTS:
        raise NetFileError(f"{at}: key 'shape' {shape} is out of range")
    name = g.attrs.get("name", f"layer{len(inputs)}")
    layer = Layer(str(name), kind, shape, inputs)
    if kind == "input":
        if "neuron" in g or "weight" in g:
            raise NetFileError(f"{at}: input layers with a neuron or weight are not supported")
        shift = int(_ints(g, "valueShift", at)) if "valueShift" in g else 0
        if not 0 <= shift <= 16:
            raise NetFileError(f"{at}: key 'valueShift' must be in 0..16")
        layer.attrs = {"value_shift": shift} if shift else {}
        return layer
    if kind in ("conv", "dense"):
        layer.weight = _ints(g, "weight", at)
        layer.weight_exp = int(_ints(g, "wgtExp", at)) if "wgtExp" in g else 0
        if kind == "conv":
            layer.attrs = {key: _square(g, key, at) for key in ("stride", "padding")}
            if "dilation" in g and _square(g, "dilation", at) != 1:
                raise NetFileError(f"{at}: key 'dilation' other than 1 is not supported")
            layer.attrs["groups"] = int(_ints(g, "groups", at)) if "groups" in g else 1
            if layer.weight.ndim != 4:
                raise NetFileError(f"{at}: key 'weight' must be (out, in/groups, kH, kW), got {layer.weight.shape}")
        elif layer.weight.ndim != 2:
            raise NetFileError(f"{at}: key 'weight' must be (out, in), got {layer.weight.shape}")
    if "bias" in g:
        layer.bias = _ints(g, "bias", at).reshape(-1)
    if kind == "sdsa":
        layer.attrs = {"variant": _str(g, "variant", at), "heads": int(_ints(g, "heads", at)),
                       "scale": int(_ints(g, "scale", at))}
    if kind == "mean":
        layer.attrs = {"scale_mant": int(_ints(g, "scaleMant", at)), "scale_shift": int(_ints(g, "scaleShift", at))}
        if not 0 <= layer.attrs["scale_shift"] <= 32:
            raise NetFileError(f"{at}: key 'scaleShift' must be in 0..32")
    if "neuron" in g:
        layer.neuron = _read_neuron(g["neuron"], f"{at}: neuron")
    elif kind in ("neuron", "sdsa"):
        raise NetFileError(f"{at}: a {kind} layer needs a 'neuron' group")
    return layer


def _read_neuron(g, at) -> LifParams:
    if not isinstance(g, h5py.Group):
        raise NetFileError(f"{at}: 'neuron' must be a group")
    extra = sorted(set(g.keys()) - NEURON_KEYS)
    if extra:
        raise NetFileError(f"{at}: unexpected key {extra[0]!r}")
    kind = _str(g, "type", at)
    if kind not in ("CUBA", "LOIHI"):
        raise NetFileError(f"{at}: neuron type {kind!r} is not supported (CUBA only)")
    params = {}
    for key, field_name, hi in (("vThMant", "vth_mant", (1 << 17) - 1), ("iDecay", "i_decay", DECAY_UNITY),
                                ("vDecay", "v_decay", DECAY_UNITY)):
        value = int(_ints(g, key, at))
        if not 0 <= value <= hi:
            raise NetFileError(f"{at}: key {key!r} = {value} outside 0..{hi}")
        params[field_name] = value
    if "gradedSpike" in g and bool(_ints(g, "gradedSpike", at)):
        raise NetFileError(f"{at}: graded-spike neurons are not supported")
    return LifParams(**params)


def _str(g, key, at) -> str:
    if key not in g or not isinstance(g[key], h5py.Dataset):
        raise NetFileError(f"{at}: missing key {key!r}")
    if g[key].size != 1:
        raise NetFileError(f"{at}: key {key!r} must be one string")
    value = g[key][()]
    if isinstance(value, np.ndarray):
        if value.size != 1:
            raise NetFileError(f"{at}: key {key!r} must be one string")
        value = value.reshape(-1)[0]
    if not isinstance(value, (bytes, str)):
        raise NetFileError(f"{at}: key {key!r} must be a string")
    return value.decode("ascii", "replace") if isinstance(value, bytes) else value


def _ints(g, key, at) -> np.ndarray:
    if key not in g or not isinstance(g[key], h5py.Dataset):
        raise NetFileError(f"{at}: missing key {key!r}")
    ds = g[key]
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
    if value.size and np.abs(value.astype(np.float64)).max() >= 2 ** 53:
        raise NetFileError(f"{at}: key {key!r} is out of range")
    return value.astype(np.int64)


def _square(g, key, at) -> int:
    v = _ints(g, key, at).reshape(-1)
    if v.size not in (1, 2) or (v.size == 2 and v[0] != v[1]):
        raise NetFileError(f"{at}: key {key!r} must be one value or two equal ones, got {v.tolist()}")
    return int(v[0])
