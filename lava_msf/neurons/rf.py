"""Resonate-and-fire neurons (NetX's RF_PHASE and RF_IZHIKEVICH; Lava's
lava.proc.rf and lava.proc.rf_iz fixed-point models).

NetX (hdf5.get_neuron_params) builds a neuron whose type contains "RF" as
Lava's RF if the type contains "PHASE", else as RF_IZ, from vThMant, sinDecay
and cosDecay through a float round trip: SLAYER's rf.neuron_params turns the
decays into (period, alpha), and RF.__init__ turns those back into decays,
truncated to 12 bits (`decays` reproduces it, so the integers are NetX's).
The neuron takes two currents, the real and the imaginary synapse of a
complex dense layer (lava_msf.layers.dense_complex); per step, in Lava's
arithmetic (scale(x) = sign(x) * (|x| >> 12), state clipped to +-(2**23 - 1)):
    re' = clip(scale(cos re) - scale(sin im) + (a_re << 6))
    im' = clip(scale(sin re) + scale(cos im) + (a_im << 6))
    RF_PHASE       s = re' >= vth and im' >= 0 and im < 0   (the phase crosses 0)
    RF_IZHIKEVICH  s = im' >= vth; where s: re' = 0, im' = vth - 1
with vth = vThMant << 6. NetX passes no bias (refused) and no reset (its
RF state runs on across samples; lava-msf resets it at each sample's start, as
every neuron). gradedSpike true is refused: NetX builds binary spikes."""

import functools
from dataclasses import dataclass

import numpy as np

from .. import fixedpoint as fx
from ..errors import GraphError, NetFileError
from .base import BinarySpikes

STATE_EXP = 6  # NetX's state_exp: currents and threshold enter << 6
DECAY_BITS = 12  # NetX's decay_bits
DECAY_MAX = 1 << DECAY_BITS
VTH_MAX = (1 << 17) - 1  # << 6 stays inside the 24-bit state
FORMS = {"RF_PHASE": "phase", "RF_IZHIKEVICH": "iz"}


@dataclass(frozen=True)
class RfParams:
    form: str = "phase"  # "phase": Lava's RF, "iz": RF_IZ
    sin_decay: int = 0  # the file's sinDecay, cosDecay (12-bit fractions)
    cos_decay: int = DECAY_MAX
    vth_mant: int = 0

    @property
    def vth(self) -> int:
        return self.vth_mant << STATE_EXP


def period_alpha(p: RfParams) -> tuple:
    """NetX's (period, alpha) for Lava's RF (SLAYER's rf.neuron_params, operation for operation)."""
    s, c = np.float64(p.sin_decay) / DECAY_MAX, np.float64(p.cos_decay) / DECAY_MAX
    with np.errstate(divide="ignore"):  # sinDecay 0: NetX's period is inf, its phase step 0
        return 1 / (np.arctan2(s, c) / 2 / np.pi), 1 - np.sqrt(s ** 2 + c ** 2)


@functools.lru_cache(maxsize=64)
def decays(p: RfParams) -> tuple:
    """The (sin, cos) decays Lava's RF computes with: RF.__init__'s from NetX's
    (period, alpha), truncated to 12 bits."""
    period, alpha = period_alpha(p)
    sin = (1 - alpha) * np.sin(np.pi * 2 * 1 / period)
    cos = (1 - alpha) * np.cos(np.pi * 2 * 1 / period)
    return int(np.int32(sin * (1 << DECAY_BITS))), int(np.int32(cos * (1 << DECAY_BITS)))


def _scale(x):
    """Lava's scale_volt: x >> 12 rounded toward zero."""
    return fx._where(x < 0, -((-x) >> DECAY_BITS), x >> DECAY_BITS)


class Rf(BinarySpikes):
    params = RfParams
    netx_types = tuple(FORMS)
    keys = frozenset({"type", "vThMant", "sinDecay", "cosDecay", "gradedSpike"})
    state_arrays = 2  # real, imag
    currents = 2  # real and imaginary: only a complex dense layer feeds it

    @staticmethod
    def read(g, at) -> RfParams:
        from ..layers.hdf5 import integer, string

        for key in ("sinDecay", "cosDecay", "vThMant"):
            if key in g and getattr(g[key], "dtype", np.dtype(np.int64)) in (np.float16, np.float32):
                raise NetFileError(f"{at}: key {key!r} is stored as {g[key].dtype}: NetX would compute its decays "
                                   f"in that precision (store integers)")
        if integer(g, "gradedSpike", at, 0, 1, default=0):
            raise NetFileError(f"{at}: key 'gradedSpike' is true: graded resonate-and-fire spikes are not supported "
                               f"(NetX builds binary ones)")
        return RfParams(form=FORMS[string(g, "type", at)], sin_decay=integer(g, "sinDecay", at, -DECAY_MAX, DECAY_MAX),
                        cos_decay=integer(g, "cosDecay", at, -DECAY_MAX, DECAY_MAX),
                        vth_mant=integer(g, "vThMant", at, 0, VTH_MAX))

    @staticmethod
    def write(p: RfParams) -> dict:
        kind = next(k for k, form in FORMS.items() if form == p.form)
        return {"type": kind, "sinDecay": p.sin_decay, "cosDecay": p.cos_decay, "vThMant": p.vth_mant}

    @staticmethod
    def check(p: RfParams, bias, at: str) -> None:
        if p.form not in FORMS.values():
            raise GraphError(f"{at}: resonate-and-fire form {p.form!r} is not one of {', '.join(FORMS.values())}")
        if not (-DECAY_MAX <= p.sin_decay <= DECAY_MAX and -DECAY_MAX <= p.cos_decay <= DECAY_MAX):
            raise GraphError(f"{at}: sinDecay, cosDecay {p.sin_decay}, {p.cos_decay} outside "
                             f"-{DECAY_MAX}..{DECAY_MAX}")
        if not 0 <= p.vth_mant <= VTH_MAX:
            raise GraphError(f"{at}: resonate-and-fire threshold {p.vth_mant} outside 0..{VTH_MAX}")
        if bias is not None:
            raise GraphError(f"{at}: a resonate-and-fire neuron takes no bias (NetX ignores it)")

    @staticmethod
    def bias_shift(p) -> int:
        return STATE_EXP

    @staticmethod
    def reset(shape, be):
        return (be.zeros(shape),) * 2

    @staticmethod
    def step(state, a, p: RfParams, voltage_bias, be):
        """One step on the currents a = (real, imaginary): (0/1 spikes, new state)."""
        re, im = state
        sin, cos = decays(p)
        lim = fx.STATE_LIMIT
        new_re = (_scale(cos * re) - _scale(sin * im) + (a[0] << STATE_EXP)).clip(-lim, lim)
        new_im = (_scale(sin * re) + _scale(cos * im) + (a[1] << STATE_EXP)).clip(-lim, lim)
        if p.form == "phase":
            spikes = (new_re >= p.vth) & (new_im >= 0) & (im < 0)
            return be.from_bool(spikes), (new_re, new_im)
        spikes = new_im >= p.vth
        return be.from_bool(spikes), (fx._where(spikes, 0, new_re), fx._where(spikes, p.vth - 1, new_im))

    float_step = None  # lava-cpu-float: not built (NetX runs RF in fixed point)

    @staticmethod
    def lava(shape, p: RfParams, bias, reset_interval: int, reset_offset: int, fixed: bool, name=None):
        """Lava's stock RF or RF_IZ (lava_msf.runtime.proc.stock)."""
        from ..runtime.proc.stock import resonate_and_fire

        return resonate_and_fire(shape, p, reset_interval, reset_offset, fixed, name)


MODEL = Rf()
