"""lava-dl SLAYER, imported in one place.

Importing lava.lib.dl.slayer prints a banner about an optional Prophesee
toolbox to stdout, which would corrupt `--json` output; it is dropped here.
"""

import contextlib
import io

with contextlib.redirect_stdout(io.StringIO()):
    from lava.lib.dl.slayer import synapse
    from lava.lib.dl.slayer.neuron import cuba
    from lava.lib.dl.slayer.neuron.cuba import SCALE_RHO_MULT, TAU_RHO_MULT
    from lava.lib.dl.slayer.neuron.dynamics import leaky_integrator
    from lava.lib.dl.slayer.utils import quantize

CUBA_RHO = (TAU_RHO_MULT, SCALE_RHO_MULT)  # cuba.Neuron.spike's surrogate width and height factors

__all__ = ["synapse", "cuba", "leaky_integrator", "quantize", "CUBA_RHO"]
