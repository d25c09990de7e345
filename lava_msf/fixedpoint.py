"""The spiking neuron of Meta-SpikeFormer, defined once (numpy only).

Reference LIF (SDT-V2 code, tau = 2, decay_input, hard reset to 0):
    H[t] = V[t-1] + (X[t] - V[t-1]) / tau
    S[t] = H[t] >= v_th
    V[t] = H[t] * (1 - S[t])

Deployable form: Lava's LIF (= lava-dl SLAYER CUBA) with full current decay and
voltage decay 1/tau, fed X/tau (the 1/tau is folded into the weights at export):
    u[t] = wrap24(a[t] << 6)               a: integer input in weight-mantissa units
    v[t] = clip24(trunc(v[t-1] * (4096 - dv) / 4096) + u[t] + bias)
    s[t] = v[t] > (vth_mant << 6)          strict, as on Loihi
    v[t] = 0 where s[t]
One unit of `a` is 1 / WEIGHT_SCALE of a float current. The torch deployable
neuron, the export, the reference executor and the Lava processes all take
their constants and their arithmetic from this module.
"""

import sys
from dataclasses import dataclass

import numpy as np

TAU = 2.0
THRESHOLD = 1.0  # every spiking neuron
ATTENTION_THRESHOLD = 0.5  # the SDSA attention neuron
ATTENTION_SCALE = 0.125  # SDSA's fixed scale s

WEIGHT_SCALE = 64  # float weight 1.0 == mantissa 64 (SLAYER w_scale)
ACT_SHIFT = 6  # synaptic input is MSB-aligned by 6 bits in the compartment
DECAY_SHIFT = 12
DECAY_UNITY = 1 << DECAY_SHIFT
STATE_BITS = 24
STATE_LIMIT = (1 << (STATE_BITS - 1)) - 1  # v saturates at +-STATE_LIMIT
_WRAP = 1 << (STATE_BITS - 1)  # u wraps around (once) past +-2**23, as in Lava's LIF
SYNAPSE_MIN, SYNAPSE_MAX = -(1 << 23), (1 << 23) - 1  # a synapse's 24-bit accumulator saturates


@dataclass(frozen=True)
class LifParams:
    """Fixed-point parameters of one population (NetX CUBA / Lava LIF).

    The deployable SN is `from_threshold(th)`: full current decay, voltage decay
    1/tau. Plain NetX files may carry other decays; the arithmetic covers them.
    """

    vth_mant: int = int(THRESHOLD * WEIGHT_SCALE)  # threshold x WEIGHT_SCALE
    i_decay: int = DECAY_UNITY  # current decay x4096 (4096: u[t] is step t's input alone)
    v_decay: int = int(DECAY_UNITY / TAU)  # voltage decay x4096
    # NetX keys the arithmetic does not use (LOIHI's type, scaleRho, ...), as read: (key, value) pairs
    netx: tuple = ()

    @classmethod
    def from_threshold(cls, threshold: float) -> "LifParams":
        """The deployable SN with this threshold (quantized as lava-dl does)."""
        return cls(vth_mant=int(threshold * WEIGHT_SCALE))

    @property
    def threshold(self) -> float:
        return self.vth_mant / WEIGHT_SCALE

    def slayer_args(self) -> dict:
        """Arguments of lava.lib.dl.slayer.neuron.cuba.Neuron for this neuron."""
        return {
            "threshold": self.threshold,
            "current_decay": self.i_decay / DECAY_UNITY,
            "voltage_decay": self.v_decay / DECAY_UNITY,
        }

    def netx_neuron(self) -> dict:
        """The NetX `neuron/` group of a CUBA (or LOIHI) layer."""
        return {
            "type": "CUBA",
            "iDecay": self.i_decay,
            "vDecay": self.v_decay,
            "vThMant": self.vth_mant,
            "refDelay": 1,
            "gradedSpike": False,
            **dict(self.netx),
        }


def _where(cond, a, b):
    """np.where or torch.where, by the array type (numpy stays torch-free)."""
    if isinstance(cond, np.ndarray):
        return np.where(cond, a, b)
    return sys.modules["torch"].where(cond, a, b)


def _decay(state, decay: int):
    """state * (4096 - decay) / 4096, rounded toward zero (Lava's sign-magnitude
    shift): a negative product gets 4095 added before the floor shift (int64)."""
    prod = state * (DECAY_UNITY - decay)
    return (prod + ((prod >> 63) & (DECAY_UNITY - 1))) >> DECAY_SHIFT


def _wrap_current(u):
    """Lava's 24-bit current overflow: one wrap-around, not a full modulo."""
    w = _where(u > _WRAP, u - 2 * _WRAP, u)
    return _where(w <= -_WRAP, u + 2 * _WRAP, w)


def shift(x, k: int):
    """x << k for k >= 0, else x >> -k (floor): a weight exponent's scaling."""
    return x << k if k >= 0 else x >> -k


def saturate_synapse(a):
    """Signed 24-bit saturation of a synaptic accumulator, as Lava's fixed-point Conv."""
    return a.clip(SYNAPSE_MIN, SYNAPSE_MAX)


def lif_update(u, v, a, params: LifParams, bias=0):
    """One step before spiking (int64 numpy arrays or torch tensors, state units).

    u, v: current and voltage after the previous step's reset; a: int64 input in
    weight-mantissa units; bias: added to the voltage. Returns (u, v).
    NetX maps iDecay to Lava's du = iDecay - 1, and Lava adds 1 back (ds_offset).
    """
    u = _wrap_current(_decay(u, params.i_decay) + (a << ACT_SHIFT))
    return u, (_decay(v, params.v_decay) + u + bias).clip(-STATE_LIMIT, STATE_LIMIT)


def lif_fire(v, params: LifParams):
    """Strict-threshold spike and hard reset. Returns (spikes bool, reset voltage)."""
    s = v > (params.vth_mant << ACT_SHIFT)
    return s, _where(s, 0, v)


def lif_run(a: np.ndarray, params: LifParams, bias=0):
    """Run the neuron over the last (time) axis of integer input `a`.

    Returns (spikes bool (..., T), voltage before reset int64 (..., T)).
    """
    a = np.asarray(a)
    if not np.issubdtype(a.dtype, np.integer):
        raise TypeError(f"lif_run needs integer input, got {a.dtype}")
    a = a.astype(np.int64)
    u = np.zeros(a.shape[:-1], dtype=np.int64)
    v = np.zeros(a.shape[:-1], dtype=np.int64)
    spikes = np.zeros(a.shape, dtype=bool)
    volts = np.zeros(a.shape, dtype=np.int64)
    for t in range(a.shape[-1]):
        u, volts[..., t] = lif_update(u, v, a[..., t], params, bias)
        spikes[..., t], v = lif_fire(volts[..., t], params)
    return spikes, volts


def reference_lif_run(x: np.ndarray, threshold: float = THRESHOLD, tau: float = TAU):
    """The reference (float) LIF over the last axis. Returns (spikes, H)."""
    x = np.asarray(x, dtype=np.float64)
    v = np.zeros(x.shape[:-1])
    spikes = np.zeros(x.shape, dtype=bool)
    hs = np.zeros(x.shape)
    for t in range(x.shape[-1]):
        h = v + (x[..., t] - v) / tau
        hs[..., t] = h
        spikes[..., t] = h >= threshold
        v = np.where(spikes[..., t], 0.0, h)
    return spikes, hs
