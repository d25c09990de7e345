"""NIR files (HDF5: dataset `version`, group `node`; each node a group with a
`type` string and one dataset per parameter). Read here, not with nir.read:
that one unpickles nothing (h5py only) but trusts the file: no bound on
sizes, `assert`s as checks (gone under python -O) and errors that do not
name the node. Writing goes through nir.write into memory, then atomically."""

import io
from pathlib import Path

import h5py
import numpy as np

from ..atomic import check_destination, write_bytes
from ..layers.hdf5 import open_file
from . import NirError

MAX_ELEMENTS = 1 << 26  # one parameter (float64: 512 MiB) ...
MAX_TOTAL = 1 << 27  # ... and all of them (1 GiB), checked before each is read
MAX_NODES = 1 << 12
MAX_EDGES = 1 << 16
MAX_DEPTH = 8  # nested graphs
# NIR 1.0.8's nodes: required and optional parameters (its serialization's keys)
PARAMS = {
    "Input": ({"shape"}, set()), "Output": ({"shape"}, set()),
    "Affine": ({"weight", "bias"}, set()), "Linear": ({"weight"}, set()), "Scale": ({"scale"}, set()),
    "Conv1d": ({"weight", "stride", "padding", "dilation", "groups", "bias"}, {"input_shape"}),
    "Conv2d": ({"weight", "stride", "padding", "dilation", "groups", "bias"}, {"input_shape"}),
    "SumPool2d": ({"kernel_size", "stride", "padding"}, set()),
    "AvgPool2d": ({"kernel_size", "stride", "padding"}, set()),
    "Delay": ({"delay"}, set()), "Flatten": ({"start_dim", "end_dim"}, {"input_type"}),
    "Threshold": ({"threshold"}, set()), "I": ({"r"}, set()),
    "IF": ({"r", "v_threshold"}, {"v_reset"}), "LI": ({"tau", "r", "v_leak"}, set()),
    "LIF": ({"tau", "r", "v_leak", "v_threshold"}, {"v_reset"}),
    "CubaLI": ({"tau_syn", "tau_mem", "r", "v_leak"}, {"w_in"}),
    "CubaLIF": ({"tau_syn", "tau_mem", "r", "v_leak", "v_threshold"}, {"v_reset", "w_in"}),
    "NIRGraph": ({"nodes", "edges"}, set()),
}
STRING_PARAMS = {"padding"}  # Conv's 'same' / 'valid'


def _text(ds, at: str) -> str:
    value = ds[()]
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(-1)[0]
    if not isinstance(value, (bytes, str)):
        raise NirError(f"{at}: must be a string")
    return value.decode("utf8", "replace") if isinstance(value, bytes) else value


def _array(g, key: str, at: str, count: list):
    ds = g[key]
    if not isinstance(ds, h5py.Dataset):
        raise NirError(f"{at}: parameter {key!r} must be a dataset")
    if ds.size > MAX_ELEMENTS:
        raise NirError(f"{at}: parameter {key!r} has {ds.size} elements, more than {MAX_ELEMENTS}")
    count[1] += ds.size
    if count[1] > MAX_TOTAL:
        raise NirError(f"{at}: the file's parameters hold more than {MAX_TOTAL} elements")
    if ds.dtype.kind in "SOU" and key in STRING_PARAMS:
        return _text(ds, f"{at}: parameter {key!r}")
    if ds.dtype.kind not in "biuf":
        raise NirError(f"{at}: parameter {key!r} must be numeric, got {ds.dtype}")
    value = np.asarray(ds[()])
    if value.dtype.kind == "f" and not np.isfinite(value).all():
        raise NirError(f"{at}: parameter {key!r} holds NaN or infinite values")
    return value


def _metadata(g, at: str) -> dict:
    if "metadata" not in g:
        return {}
    meta = {}
    for key, ds in g["metadata"].items():
        if isinstance(ds, h5py.Dataset) and ds.size == 1:  # other metadata is not lava-msf's: ignored
            meta[key] = _text(ds, at) if ds.dtype.kind in "SOU" else np.asarray(ds[()]).reshape(-1)[0].item()
    return meta


def _node(g, name: str, at: str, depth: int, count: list):
    import nir

    if not isinstance(g, h5py.Group) or "type" not in g or not isinstance(g["type"], h5py.Dataset):
        raise NirError(f"{at}: node {name!r} must be a group with a 'type'")
    kind = _text(g["type"], f"{at}: node {name!r}: 'type'")
    where = f"{at}: node {name!r} ({kind[:40]})"
    if kind not in PARAMS:
        raise NirError(f"{where}: not a NIR 1.0 node type")
    required, optional = PARAMS[kind]
    keys = set(g.keys()) - {"type", "metadata"}
    if required - keys:
        raise NirError(f"{where}: missing parameter {sorted(required - keys)[0]!r}")
    if keys - required - optional:
        raise NirError(f"{where}: unexpected parameter {sorted(keys - required - optional)[0]!r}")
    meta = _metadata(g, where)
    if kind == "NIRGraph":
        return _graph(g, where, depth + 1, count, meta)
    p = {key: _array(g, key, where, count) for key in keys}
    try:
        return _construct(nir, kind, p, meta)
    except (AssertionError, ValueError, TypeError, IndexError, KeyError, OverflowError, ZeroDivisionError) as e:
        raise NirError(f"{where}: inconsistent parameters ({type(e).__name__}: {str(e)[:120]})") from None


def _construct(nir, kind: str, p: dict, meta: dict):
    """The nir node of type `kind` from its parameters as read."""
    with np.errstate(all="ignore"):  # NIR computes a conv's output size from what the file says
        if kind in ("Input", "Output"):
            arg = "input_type" if kind == "Input" else "output_type"
            return getattr(nir, kind)(**{arg: {arg.split("_")[0]: p["shape"]}}, metadata=meta)
        if kind == "Flatten":
            p["input_type"] = {"input": p.get("input_type")}
            p["start_dim"], p["end_dim"] = int(p["start_dim"]), int(p["end_dim"])
        if kind in ("Conv1d", "Conv2d"):
            p.setdefault("input_shape", None)
            p["groups"] = int(p["groups"])
            for key in ("stride", "padding", "dilation"):
                if not isinstance(p[key], str):
                    p[key] = tuple(int(v) for v in np.ravel(p[key])) if np.size(p[key]) > 1 else int(p[key])
            if p["input_shape"] is not None:
                p["input_shape"] = tuple(int(v) for v in np.ravel(p["input_shape"]))
        return getattr(nir, kind)(**p, metadata=meta)


def _graph(g, at: str, depth: int, count: list, meta: dict):
    import nir

    if depth > MAX_DEPTH:
        raise NirError(f"{at}: graphs nest deeper than {MAX_DEPTH}")
    if not isinstance(g.get("nodes"), h5py.Group) or not isinstance(g.get("edges"), h5py.Dataset):
        raise NirError(f"{at}: a graph needs a 'nodes' group and an 'edges' dataset")
    count[0] += len(g["nodes"])
    if count[0] > MAX_NODES:
        raise NirError(f"{at}: more than {MAX_NODES} nodes")
    nodes = {name: _node(sub, name, at, depth, count) for name, sub in g["nodes"].items()}
    raw = g["edges"]
    if raw.size > 2 * MAX_EDGES or raw.dtype.kind not in "SOU":
        raise NirError(f"{at}: 'edges' must be at most {MAX_EDGES} (source, target) pairs of node names")
    edges = np.asarray(raw[()])
    if edges.size == 0:
        edges = edges.reshape(0, 2)
    if edges.ndim != 2 or edges.shape[1] != 2:
        raise NirError(f"{at}: 'edges' must be (source, target) pairs of node names, got shape {edges.shape}")
    pairs = [tuple(v.decode("utf8", "replace") if isinstance(v, bytes) else str(v) for v in e) for e in edges]
    return nir.NIRGraph(nodes=nodes, edges=pairs, metadata=meta, type_check=False)


def read_graph(path):
    """The NIR graph of file `path` (NirError naming the file and the node)."""
    path = Path(path)
    with open_file(path, NirError) as f:
        if not isinstance(f.get("node"), h5py.Group):
            raise NirError(f"{path}: no 'node' group (not a NIR file)")
        try:
            graph = _node(f["node"], "node", str(path), 0, [0, 0])  # nodes, elements
        except (OSError, RuntimeError, ValueError, TypeError, KeyError) as e:  # h5py on corrupt files
            if isinstance(e, NirError):
                raise
            raise NirError(f"{path}: unreadable content ({type(e).__name__}: {str(e)[:160]})") from None
    if type(graph).__name__ != "NIRGraph":
        raise NirError(f"{path}: the top node is a {type(graph).__name__}, not a NIRGraph")
    return graph


def read_nir(path, dt: float | None = None, timesteps: int | None = None):
    """Import the NIR file `path`: (Network, report), see import_nir."""
    from .importer import import_nir

    return import_nir(read_graph(path), dt, timesteps, where=str(path))


def write_nir(net, path, dt: float | None = None, client: str | None = None) -> None:
    """Export `net` (export_nir: dt, client) to the NIR file `path`, atomically."""
    from .exporter import export_nir

    check_destination(path)
    write_graph(export_nir(net, dt, client), path)


def write_graph(graph, path) -> None:
    """A nir.NIRGraph to the NIR file `path`, atomically."""
    import nir

    check_destination(path)
    image = io.BytesIO()
    nir.write(image, graph)
    write_bytes(path, image.getbuffer())
