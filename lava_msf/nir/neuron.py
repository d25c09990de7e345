"""Lava's fixed-point LIF (lava_msf.fixedpoint) <-> NIR's LIF, CubaLIF and IF,
for a time step dt (forward Euler, docs/nir.md).

Lava, per step, in float units (a current of mantissa 64 is 1.0; the state
is kept in 1/4096 of that): with du = iDecay / 4096 and dv = vDecay / 4096,
    u[t] = (1 - du) u[t-1] + a[t]
    v[t] = (1 - dv) v[t-1] + u[t] + b            b: the bias (mantissa / 64)
    spike where v[t] > vth_mant / 64 (strict), then v[t] = 0
NIR's CubaLIF, Euler with step dt (the current of the same step, as snnTorch):
    I[t] = (1 - dt/tau_syn) I[t-1] + (dt/tau_syn) w_in S[t]
    v[t] = (1 - dt/tau_mem) v[t-1] + (dt/tau_mem) (r I[t] + v_leak)
so tau_syn = dt / du, w_in = 1 / du, tau_mem = dt / dv, r = 1 / dv,
v_leak = b / dv, v_threshold = vth_mant / 64, v_reset = 0; with du = 1 the
current is the step's input alone and the node is a LIF (same tau, r, v_leak);
with dv = 0 (no leak), du = 1 and no bias an IF with r = 1 / dt.

Importing, any gain G = (dt/tau_syn) w_in (dt/tau_mem) r (LIF: (dt/tau) r, IF:
dt r) divides the threshold and the bias: v / G is Lava's voltage."""

import math

import numpy as np

from .. import fixedpoint as fx
from ..neurons.lif import VTH_MAX

UNITY = fx.DECAY_UNITY
NODES = ("LIF", "CubaLIF", "IF")  # the NIR neurons lava-msf imports
EXACT = 1e-9  # relative: below this a float is its integer (float64 rounding of our own exports)
# SDSA's AND of two 0/1 inputs of weight 1: memoryless, only their sum 2 crosses 1.5
COINCIDENCE = fx.LifParams(vth_mant=3 * fx.WEIGHT_SCALE // 2, i_decay=UNITY, v_decay=UNITY)


def at_or_above(threshold: float) -> float:
    """The NIR threshold of a neuron that fires at v >= `threshold` (the float-neuron model's H >= v_th):
    NIR fires at v > v_threshold, so the largest float32 below it, for which v > it is v >= threshold in
    float32 arithmetic (the clients'); a float64 v differs only within that one float32 step."""
    return float(np.nextafter(np.float32(threshold), np.float32(-np.inf)))


def export(p: fx.LifParams, bias, shape: tuple, dt: float, at: str, at_threshold: bool = False):
    """The NIR node of LIF parameters `p` with per-channel bias (mantissa units, or None);
    `at_threshold`: firing at v >= vth_mant / 64 (at_or_above) rather than Lava's v > it."""
    import nir

    from . import NirError

    full = lambda value: np.full(shape, value, dtype=np.float64)  # noqa: E731
    b = np.zeros(shape) if bias is None else np.broadcast_to(
        np.asarray(bias, dtype=np.float64).reshape((-1,) + (1,) * (len(shape) - 1)) / fx.WEIGHT_SCALE, shape)
    threshold = p.vth_mant / fx.WEIGHT_SCALE
    threshold = full(at_or_above(threshold) if at_threshold else threshold)
    if p.v_decay == 0:
        if p.i_decay != UNITY or b.any():
            raise NirError(f"{at}: a LIF without voltage decay but with a current decay or a bias has no NIR node "
                           f"(NIR's IF has neither)")
        return nir.IF(r=full(1 / dt), v_threshold=threshold, v_reset=full(0.0))
    dv = p.v_decay / UNITY
    common = dict(r=full(1 / dv), v_leak=np.array(b / dv, dtype=np.float64), v_threshold=threshold,
                  v_reset=full(0.0))
    if p.i_decay == UNITY:
        return nir.LIF(tau=full(dt / dv), **common)
    du = p.i_decay / UNITY
    return nir.CubaLIF(tau_syn=full(dt / du), tau_mem=full(dt / dv), w_in=full(1 / du), **common)


def _one(name: str, values, at: str) -> float:
    """A parameter's one value: lava-msf's LIF has one per layer."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0 or not np.isfinite(v).all():
        raise _error(f"{at}: {name} must be finite numbers")
    if not np.allclose(v, v.reshape(-1)[0], rtol=EXACT, atol=0):
        raise _error(f"{at}: {name} differs between neurons ({v.min():g}..{v.max():g}); lava-msf's LIF has one "
                     f"per layer")
    return float(v.reshape(-1)[0])


def _error(message):
    from . import NirError

    return NirError(message)


def _decay(step: float, name: str, at: str, report: dict) -> int:
    """dt / tau -> Lava's 1/4096 decay, rounded (and reported)."""
    if not 0 <= step <= 1 + EXACT:
        raise _error(f"{at}: dt / {name} = {step:g} is outside 0..1: a time constant shorter than dt (choose a "
                     f"smaller --dt)")
    exact = step * UNITY
    d = int(round(exact))
    if abs(exact - d) > EXACT * UNITY:
        report.setdefault("decays", {})[name] = {"exact": exact / UNITY, "used": d / UNITY}
    return d


def params(node, dt: float, gain: float, at: str, report: dict):
    """A NIR neuron node -> (LifParams with vth_mant unset, float threshold, float
    per-channel voltage bias (C,)), in Lava's float units for an input of gain
    `gain` (Lava current = NIR current / gain). v_reset must be 0."""
    kind = type(node).__name__
    reset = np.asarray(node.v_reset, dtype=np.float64)
    if reset.any():
        raise _error(f"{at}: v_reset {reset.max():g}: Lava's LIF resets to 0")
    threshold = _one("v_threshold", node.v_threshold, at)
    if kind == "IF":
        i_decay, v_decay, g = UNITY, 0, dt * _one("r", node.r, at)
        leak = np.zeros(np.shape(node.r))
    else:
        tau = node.tau if kind == "LIF" else node.tau_mem
        dv = dt / _one("tau_mem" if kind == "CubaLIF" else "tau", tau, at)
        v_decay = _decay(dv, "tau_mem" if kind == "CubaLIF" else "tau", at, report)
        g = dv * _one("r", node.r, at)
        leak = dv * np.asarray(node.v_leak, dtype=np.float64)
        i_decay = UNITY
        if kind == "CubaLIF":
            du = dt / _one("tau_syn", node.tau_syn, at)
            i_decay = _decay(du, "tau_syn", at, report)
            g *= du * _one("w_in", node.w_in, at)
            if i_decay == 0:
                raise _error(f"{at}: tau_syn = {float(np.ravel(node.tau_syn)[0]):g} is over 4096 dt: Lava's "
                             f"current decay would be 0 (the current would never decay)")
    g *= gain
    if not math.isfinite(g) or g <= 0:
        raise _error(f"{at}: the input gain {g:g} (r, w_in, time constants) must be positive")
    leak = leak.reshape(leak.shape[0], -1) if leak.ndim > 1 else leak.reshape(-1, 1)
    if not np.allclose(leak, leak[:, :1], rtol=EXACT, atol=0):
        raise _error(f"{at}: v_leak differs within a channel; Lava's bias is one per channel")
    return fx.LifParams(i_decay=i_decay, v_decay=v_decay), threshold / g, leak[:, 0] / g


def threshold_mant(threshold: float, at: str, report: dict, scale: float = 1.0) -> int:
    """A float threshold (times `scale`, a power of two) -> vth_mant, rounded (reported)."""
    exact = threshold * scale * fx.WEIGHT_SCALE
    m = int(round(exact))
    if not 0 <= m <= VTH_MAX:
        raise _error(f"{at}: threshold {threshold:g} does not fit Lava's 17-bit threshold mantissa")
    if abs(exact - m) > EXACT * max(1.0, abs(exact)):
        report["threshold"] = {"exact": threshold, "used": m / fx.WEIGHT_SCALE / scale,
                               "rel_error": abs(exact - m) / max(abs(exact), 1e-30)}
    return m
