"""NIR (the Neuromorphic Intermediate Representation, the `nir` package)
interchange, numpy only: a .net network to a NIR graph and back, and NIR
graphs of other frameworks quantized to Lava's fixed point (docs/nir.md).

    graph = export_nir(net, dt)         write_nir(net, "model.nir", dt)
    net, report = import_nir(graph, dt) net, report = read_nir("model.nir", dt)

Each layer type declares its own NIR nodes (`LayerType.to_nir`, lava_msf/layers);
the import maps NIR's fixed set of primitives (lava_msf.nir.importer).
"""

from ..errors import LavaMsfError

DT = 1e-4  # seconds per step when none is given (the NIR paper's LIF test)
HINT = "lava_msf_"  # metadata keys of lava-msf's exports: representation hints, never semantics


class NirError(LavaMsfError, ValueError):
    """A network without a NIR form, or a NIR graph or file lava-msf cannot import
    (names the layer, node or file)."""


from .exporter import export_nir  # noqa: E402
from .file import read_nir, write_nir  # noqa: E402
from .importer import import_nir  # noqa: E402

__all__ = ["DT", "NirError", "export_nir", "import_nir", "read_nir", "write_nir"]
