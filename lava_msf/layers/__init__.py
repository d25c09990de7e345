"""Layer types, one module each (numpy only; Lava processes are imported when
built): what a type is in the file, in the graph, in the reference executor,
on Lava, in `inspect` and in `report` (lava_msf.layers.base.LayerType).
Adding one: docs/adding-a-layer-type.md."""

from . import conv, dense, hdf5, input, mean, merge, neuron, sdsa
from .base import LayerType

TYPES = {m.TYPE.name: m.TYPE for m in (input, conv, dense, neuron, merge, sdsa, mean)}
# NetX layer types lava-msf does not read yet (named in the error)
NETX_UNSUPPORTED = ("pool", "convT", "unpool", "average", "concat", "dense_rec", "dense_comp")


def spec(layer_or_type) -> LayerType:
    """The LayerType of a Layer (or of a type name)."""
    return TYPES[getattr(layer_or_type, "type", layer_or_type)]


__all__ = ["TYPES", "NETX_UNSUPPORTED", "LayerType", "spec", "hdf5"]
