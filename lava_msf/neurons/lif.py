"""The deployable LIF (NetX CUBA and LOIHI, Lava LIF), its arithmetic defined
once in lava_msf.fixedpoint: here its file keys, its limits and its Lava process.

NetX (hdf5.get_neuron_params) builds both types as Lava's LIF from vThMant,
iDecay and vDecay alone; the other keys are read, validated and written back
unchanged, and change nothing, as in NetX (docs/hdf5-format.md):
refDelay (Lava's LIF has no refractory period), LOIHI's scaleRho, tauRho,
theta (SLAYER's surrogate gradient) and the neuron's wgtExp (the weights
carry their own), messageBits (the bits of the next synapse's input: spikes
are 0/1 whatever it says). gradedSpike true is refused: NetX would build a
binary LIF from it."""

import functools

import numpy as np

from .. import fixedpoint as fx
from ..chip.loihi2 import LOIHI2
from ..errors import GraphError, NetFileError
from ..intconv import spike_kernels
from . import real
from .base import BinarySpikes

VTH_MAX = (1 << LOIHI2["threshold_bits"]) - 1
BIAS_LIMIT = 1 << (LOIHI2["bias_mant_bits"] - 1)  # |bias| below: Lava's signed bias_mant
REF_DELAY_MAX = 1 << 16
MESSAGE_BITS_MAX = 24  # Lava's graded messages: 24 bits
INT64 = np.iinfo(np.int64)


def _per_channel(bias, c: int) -> np.ndarray:
    """A voltage bias (a scalar, or (1, C, 1, 1) per channel) as (C,) int64."""
    if isinstance(bias, int):
        return np.full(c, bias, dtype=np.int64)
    if isinstance(bias, np.ndarray) and bias.size == c and bias.dtype == np.int64 and bias.flags.c_contiguous:
        return bias.reshape(c)
    return np.ascontiguousarray(np.broadcast_to(np.asarray(bias, dtype=np.int64).reshape(-1), (c,)))


class Lif(BinarySpikes):
    params = fx.LifParams
    netx_types = ("CUBA", "LOIHI")  # LOIHI: NetX's name for the same compartment
    keys = frozenset({"type", "iDecay", "vDecay", "vThMant", "refDelay", "gradedSpike", "messageBits",
                      "scaleRho", "tauRho", "theta", "wgtExp"})
    state_arrays = 2  # u, v

    @staticmethod
    def read(g, at) -> fx.LifParams:
        from ..layers.hdf5 import integer, string

        netx = []  # kept only where they differ from what lava-msf writes, so that files round-trip
        if string(g, "type", at) == "LOIHI":
            netx.append(("type", "LOIHI"))
        if integer(g, "gradedSpike", at, 0, 1, default=0):
            raise NetFileError(f"{at}: key 'gradedSpike' is true: graded-spike CUBA neurons are not supported "
                               f"(NetX builds them as binary LIF)")
        ref = integer(g, "refDelay", at, 0, REF_DELAY_MAX, default=1)
        if ref != 1:
            netx.append(("refDelay", ref))
        if "messageBits" in g:
            netx.append(("messageBits", integer(g, "messageBits", at, 0, MESSAGE_BITS_MAX)))
        if "wgtExp" in g:
            netx.append(("wgtExp", integer(g, "wgtExp", at, -8, 7)))
        netx += [(key, real(g, key, at)) for key in ("scaleRho", "tauRho", "theta") if key in g]
        # ranges wider than check()'s, so that check() names the rule
        return fx.LifParams(vth_mant=integer(g, "vThMant", at, 0, VTH_MAX),
                            i_decay=integer(g, "iDecay", at, 0, fx.DECAY_UNITY),
                            v_decay=integer(g, "vDecay", at, 0, fx.DECAY_UNITY), netx=tuple(netx))

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
    def bias_shift(p) -> int:
        """The bias mantissa enters the voltage << 6 (NetX's bias_exp)."""
        return fx.ACT_SHIFT

    @staticmethod
    def reset(shape, be):
        return be.zeros(shape), be.zeros(shape)  # apart: window() updates them in place

    @staticmethod
    def step(state, a, p: fx.LifParams, voltage_bias, be):
        """One step: (0/1 spikes, new state)."""
        u, v = fx.lif_update(*state, a, p, voltage_bias)
        spikes, v = fx.lif_fire(v, p)
        return be.from_bool(spikes), (u, v)

    @staticmethod
    def window(state, a, steps: int, p: fx.LifParams, voltage_bias, synapse=None):
        """`steps` steps at once (numpy): a (steps * N, ...) int64, time-major;
        the same as step() `steps` times (tests/test_fast_executor.py). It
        consumes `state`: its arrays may be updated in place. synapse (k, bias
        (C,)): `a` (steps * N, C, M) is a synapse's exact product and the neuron
        takes sat24(shift(a, k) + bias), the synapse's arithmetic in the same pass."""
        u, v = state
        shape = u.shape
        n, c = shape[0], shape[1] if len(shape) > 1 else 1
        # updated in place: on copies where reset's arrays are shared, or not int64 and dense
        if u is v or not (u.dtype == v.dtype == np.int64 and u.flags.c_contiguous and v.flags.c_contiguous):
            u, v = np.array(u, dtype=np.int64), np.array(v, dtype=np.int64)
        bias = _per_channel(voltage_bias, c)
        if synapse is None:
            a, synapse = a.reshape(steps * n, c, -1), (0, INT64.min, INT64.max, _per_channel(0, c))
        else:
            synapse = (synapse[0], fx.SYNAPSE_MIN, fx.SYNAPSE_MAX, synapse[1])
        spikes = np.empty(a.shape, dtype=np.int64)
        spike_kernels().lif_window(a, u.reshape(n, c, -1), v.reshape(n, c, -1), bias, Lif.constants(p), synapse,
                                   spikes)
        return spikes.reshape(steps * n, *shape[1:]), (u, v)

    @staticmethod
    @functools.cache
    def constants(p: fx.LifParams) -> tuple:
        """The compiled loop's integers (lava_msf.spike_kernels.lif_element)."""
        return (fx.DECAY_UNITY - p.i_decay, fx.DECAY_UNITY - p.v_decay, p.vth_mant << fx.ACT_SHIFT, fx._WRAP,
                fx.STATE_LIMIT, fx.DECAY_SHIFT, fx.ACT_SHIFT)

    @staticmethod
    def float_step(state, a, p: fx.LifParams, bias):
        """Lava's floating-point LIF in current units (threshold vth_mant, bias
        added to the voltage): the real-valued counterpart of step."""
        u, v = state
        u = u * (1 - p.i_decay / fx.DECAY_UNITY) + a
        v = v * (1 - p.v_decay / fx.DECAY_UNITY) + u + bias
        spikes = v > p.vth_mant
        return spikes, (u, np.where(spikes, 0.0, v))

    @staticmethod
    def lava(shape, p: fx.LifParams, bias, reset_interval: int, reset_offset: int, fixed: bool, name=None):
        """Lava's stock LIFReset (lava_msf.runtime.proc.stock)."""
        from ..runtime.proc.stock import lif_reset

        return lif_reset(shape, p, bias, reset_interval, reset_offset, fixed, name)


MODEL = Lif()
