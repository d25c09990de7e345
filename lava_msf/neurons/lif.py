"""The deployable LIF (NetX CUBA, Lava LIF), its arithmetic defined once in
lava_msf.fixedpoint: here its file keys, its limits and its Lava process."""

import numpy as np

from .. import fixedpoint as fx
from ..chip.loihi2 import LOIHI2
from ..errors import GraphError

VTH_MAX = (1 << LOIHI2["threshold_bits"]) - 1
BIAS_LIMIT = 1 << (LOIHI2["bias_mant_bits"] - 1)  # |bias| below: Lava's signed bias_mant


class Lif:
    params = fx.LifParams
    netx_types = ("CUBA", "LOIHI")  # LOIHI: NetX's name for the same compartment
    # scaleRho, tauRho, theta, wgtExp: LOIHI keys NetX reads and ignores (minimum until H2's reader lands)
    keys = frozenset({"type", "iDecay", "vDecay", "vThMant", "refDelay", "gradedSpike",
                      "scaleRho", "tauRho", "theta", "wgtExp"})

    @staticmethod
    def read(g, at) -> fx.LifParams:
        from ..errors import NetFileError
        from ..layers.hdf5 import integer, ints

        # ranges wider than check()'s, so that check() names the rule
        params = fx.LifParams(vth_mant=integer(g, "vThMant", at, 0, VTH_MAX),
                              i_decay=integer(g, "iDecay", at, 0, fx.DECAY_UNITY),
                              v_decay=integer(g, "vDecay", at, 0, fx.DECAY_UNITY))
        if "gradedSpike" in g and ints(g, "gradedSpike", at).any():
            raise NetFileError(f"{at}: graded-spike neurons are not supported")
        return params

    @staticmethod
    def write(p: fx.LifParams) -> dict:
        return p.netx_neuron()

    @staticmethod
    def check(p: fx.LifParams, bias, at: str) -> None:
        """What the reference, Lava's LIF and the fused models all compute the same:
        Lava's du = iDecay - 1 must be >= 0, its vth 17 bits, its bias_mant 13 bits."""
        if not 1 <= p.i_decay <= fx.DECAY_UNITY or not 0 <= p.v_decay <= fx.DECAY_UNITY:
            raise GraphError(f"{at}: the LIF needs iDecay in 1..4096 and vDecay in 0..4096, "
                             f"got {p.i_decay}, {p.v_decay}")
        if not 0 <= p.vth_mant <= VTH_MAX:
            raise GraphError(f"{at}: threshold mantissa {p.vth_mant} outside Lava's 17 bits")
        if bias is not None and np.abs(bias).max(initial=0) >= BIAS_LIMIT:
            raise GraphError(f"{at}: bias up to {int(np.abs(bias).max())} does not fit Lava's 13-bit bias_mant")

    @staticmethod
    def reset(shape, be):
        return (be.zeros(shape),) * 2

    @staticmethod
    def step(state, a, p: fx.LifParams, voltage_bias):
        """Reference step: (spikes bool, new state)."""
        u, v = fx.lif_update(*state, a, p, voltage_bias)
        spikes, v = fx.lif_fire(v, p)
        return spikes, (u, v)

    @staticmethod
    def lava(shape, p: fx.LifParams, bias, reset_interval: int, reset_offset: int, fixed: bool, name=None):
        """Lava's stock LIFReset (lava_msf.runtime.proc.stock)."""
        from ..runtime.proc.stock import lif_reset

        return lif_reset(shape, p, bias, reset_interval, reset_offset, fixed, name)


MODEL = Lif()
