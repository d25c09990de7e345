"""Layer types, one module each (numpy only; Lava processes are imported when
built): what a type is in the file, in the graph, in the reference executor,
on Lava, in `inspect` and in `report` (lava_msf.layers.base.LayerType).
Every module of this package that defines `TYPE` is a layer type, found as
Lava finds the models in a process's directory. Adding one:
docs/adding-a-layer-type.md."""

import importlib
import pkgutil

from . import hdf5
from .base import LayerType

TYPES = {}
for _module in pkgutil.iter_modules(__path__):
    _type = getattr(importlib.import_module(f"{__name__}.{_module.name}"), "TYPE", None)
    if _type is not None:
        TYPES[_type.name] = _type


def spec(layer_or_type) -> LayerType:
    """The LayerType of a Layer (or of a type name)."""
    return TYPES[getattr(layer_or_type, "type", layer_or_type)]


__all__ = ["TYPES", "LayerType", "spec", "hdf5"]
