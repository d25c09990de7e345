"""Sigma-delta neurons (NetX SDNN; Lava's lava.proc.sdn fixed-point models).

NetX builds an SDNN neuron as Lava's Delta on the input layer, Sigma where
the group has `sigma_output` (any value: NetX tests the key), SigmaDelta
elsewhere, with spike_exp = state_exp = 6 (NetX's defaults; S = 12). Per step,
in Lava's int32 arithmetic (wrap32: two's-complement wrap-around, as numpy's
int32; lava-msf computes in int64 and wraps where Lava does):
    SigmaDelta  sigma = wrap32(sigma + a)
                act'  = max(wrap32(sigma + (bias << S)), 0)     ReLU
                delta = wrap32(act' - act + residue)
                s     = delta where |delta| >= vThMant << S, else 0
                residue = delta - s;  act = act';  out = s >> state_exp
    Delta       the same with act' = wrap32(a << S) and no sigma, no bias
    Sigma       sigma = wrap32(sigma + a);  out = sigma
`a` is the synapse's raw sum (weight mantissa x graded value): the graded
output is in units of 2**-spike_exp, so a downstream synapse applies no
shift (value_shift 0). NetX ignores `activation` (Lava's default, ReLU, is
the only one it builds: others are refused) and `messageBits` (default 16;
Lava's CPU models do not truncate graded messages: read, checked, written
back). NetX does not reset sigma-delta state (it warns); lava-msf resets it
with the other neurons at each sample's start.
"""

from dataclasses import dataclass, replace

import numpy as np

from .. import fixedpoint as fx
from ..errors import GraphError, NetFileError

SPIKE_EXP = STATE_EXP = 6  # NetX's spike_exp (hdf5.Network default) and its fixed state_exp
SCALE = SPIKE_EXP + STATE_EXP
VTH_MAX = (1 << 17) - 1  # Loihi's threshold mantissa; << 12 stays inside int32
BIAS_LIMIT = 1 << 15  # Lava's SigmaDelta bias: 16-bit signed, << 12 inside int32
MESSAGE_BITS = (1, 24)
DEFAULT_MESSAGE_BITS = 16
FORMS = ("sigma_delta", "delta", "sigma")
_HALF = 1 << 31


@dataclass(frozen=True)
class SdnnParams:
    vth_mant: int = 0
    form: str = "sigma_delta"  # one of FORMS; "delta": what the input layer makes of it
    message_bits: int = DEFAULT_MESSAGE_BITS


def _wrap32(x):
    """int64 -> the int32 value numpy's int32 arithmetic would give."""
    return ((x + _HALF) & (2 * _HALF - 1)) - _HALF


def _abs32(x):
    """numpy's int32 abs: -2**31 stays negative."""
    return fx._where((x < 0) & (x > -_HALF), -x, x)


class Sdnn:
    params = SdnnParams
    netx_types = ("SDNN",)
    keys = frozenset({"type", "vThMant", "activation", "sigma_output", "messageBits"})
    state_arrays = 3  # sigma, act, residue

    @staticmethod
    def read(g, at) -> SdnnParams:
        from ..layers.hdf5 import integer, string

        if "activation" in g and string(g, "activation", at) != "relu":
            raise NetFileError(f"{at}: key 'activation' = {string(g, 'activation', at)!r} is not supported "
                               f"(NetX builds sigma-delta neurons with ReLU only)")
        sigma = "sigma_output" in g
        vth = integer(g, "vThMant", at, 0, VTH_MAX, default=0 if sigma else None)
        bits = integer(g, "messageBits", at, *MESSAGE_BITS, default=DEFAULT_MESSAGE_BITS)
        return SdnnParams(vth_mant=vth, form="sigma" if sigma else "sigma_delta", message_bits=bits)

    @staticmethod
    def write(p: SdnnParams) -> dict:
        out = {"type": "SDNN", "vThMant": p.vth_mant, "activation": "relu"}
        if p.form == "sigma":
            out["sigma_output"] = True
        if p.message_bits != DEFAULT_MESSAGE_BITS:
            out["messageBits"] = p.message_bits
        return out

    @staticmethod
    def input_form(p: SdnnParams) -> SdnnParams:
        """On the input layer NetX builds a Delta encoder."""
        return replace(p, form="delta")

    @staticmethod
    def check(p: SdnnParams, bias, at: str) -> None:
        if p.form not in FORMS:
            raise GraphError(f"{at}: sigma-delta form {p.form!r} is not one of {', '.join(FORMS)}")
        if not 0 <= p.vth_mant <= VTH_MAX:
            raise GraphError(f"{at}: sigma-delta threshold {p.vth_mant} outside 0..{VTH_MAX}")
        if not MESSAGE_BITS[0] <= p.message_bits <= MESSAGE_BITS[1]:
            raise GraphError(f"{at}: messageBits {p.message_bits} outside {MESSAGE_BITS[0]}..{MESSAGE_BITS[1]}")
        if bias is not None and p.form != "sigma_delta":
            raise GraphError(f"{at}: a {p.form} neuron takes no bias (NetX cannot build one)")
        if bias is not None and np.abs(bias).max(initial=0) >= BIAS_LIMIT:
            raise GraphError(f"{at}: bias up to {int(np.abs(bias).max())} does not fit the sigma-delta "
                             f"neuron's 16-bit bias")

    @staticmethod
    def graded(p) -> bool:
        return True

    @staticmethod
    def value_shift(p) -> int:
        return 0

    @staticmethod
    def output_bound(p) -> int:
        """What a message of messageBits carries on chip (`inspect`; Lava's CPU
        models do not truncate)."""
        return (1 << (p.message_bits - 1)) - 1

    @staticmethod
    def bias_shift(p) -> int:
        return SCALE

    @staticmethod
    def reset(shape, be):
        return (be.zeros(shape),) * 3

    @staticmethod
    def step(state, a, p: SdnnParams, voltage_bias, be):
        """One step: (graded output, new state)."""
        sigma, act, residue = state
        if p.form == "delta":
            new = _wrap32(a << SCALE)
        else:
            sigma = _wrap32(sigma + a)
            if p.form == "sigma":
                return sigma, (sigma, act, residue)
            new = _wrap32(sigma + voltage_bias)
            new = fx._where(new > 0, new, 0)
        delta = _wrap32(new - act + residue)
        s = fx._where(_abs32(delta) >= (p.vth_mant << SCALE), delta, 0)
        return s >> STATE_EXP, (sigma, new, delta - s)

    float_step = None  # lava-cpu-float has no sigma-delta model

    @staticmethod
    def lava(shape, p: SdnnParams, bias, reset_interval: int, reset_offset: int, fixed: bool, name=None):
        """Lava's stock Delta, SigmaDelta or Sigma (lava_msf.runtime.proc.stock)."""
        from ..runtime.proc.stock import sigma_delta

        return sigma_delta(shape, p, bias, reset_interval, reset_offset, fixed, name)


MODEL = Sdnn()
