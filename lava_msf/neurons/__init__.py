"""Neuron models, one module each (numpy only). A model declares its NetX
`neuron/` keys (read, write, validate), the limits every backend computes
exactly, its reference step and the stock Lava process it maps to; layers
hold its parameters (`Layer.neuron`), and `model_of` finds the model.
Adding one: docs/adding-a-layer-type.md."""

import importlib
import pkgutil

import math

import h5py
import numpy as np

from ..errors import NetFileError

REAL_MAX = 1e30  # NetX's real-valued neuron keys (SLAYER's surrogate gradient): finite, written back


def real(g, key, at) -> float:
    """One finite real number (keys NetX reads but does not compute with)."""
    from ..layers.hdf5 import dataset

    value = np.asarray(dataset(g, key, at)[()])
    if value.size != 1 or value.dtype.kind not in "iuf":
        raise NetFileError(f"{at}: key {key!r} must be one number")
    number = float(value.reshape(-1)[0])
    if not math.isfinite(number) or abs(number) > REAL_MAX:
        raise NetFileError(f"{at}: key {key!r} = {number} is not a finite number")
    return number


MODELS = {}  # parameter class -> model: every module of this package that defines MODEL
for _module in pkgutil.iter_modules(__path__):
    _model = getattr(importlib.import_module(f"{__name__}.{_module.name}"), "MODEL", None)
    if _model is not None:
        MODELS[_model.params] = _model
NETX_TYPES = {t: m for m in MODELS.values() for t in m.netx_types}


def model_of(params):
    return MODELS[type(params)]


def read_neuron(g, at):
    """A layer's `neuron/` group -> the model's parameters."""
    from .. import layers

    if not isinstance(g, h5py.Group):
        raise NetFileError(f"{at}: 'neuron' must be a group")
    kind = layers.hdf5.string(g, "type", at)
    if kind not in NETX_TYPES:
        rf = " (resonate-and-fire: lava-msf reads SLAYER's names only)" if "RF" in kind else ""
        raise NetFileError(f"{at}: key 'type' = {kind!r}: neuron type not supported{rf} "
                           f"(one of {', '.join(NETX_TYPES)})")
    model = NETX_TYPES[kind]
    extra = sorted(set(g.keys()) - model.keys)
    if extra:
        raise NetFileError(f"{at}: unexpected key {extra[0]!r}")
    return model.read(g, at)


def write_neuron(g, params) -> None:
    from ..layers.hdf5 import write_string

    for key, value in model_of(params).write(params).items():
        if isinstance(value, str):
            write_string(g, key, value)
        else:
            g.create_dataset(key, data=value)
