"""The spiking neuron (SN) in its two modes; semantics in lava_msf.fixedpoint.

- ``deploy``: lava-dl SLAYER's CUBA neuron (Lava's LIF) fed X / tau. Fixed-point
  state, strict threshold; export folds the 1/tau into the weights.
- ``float``: the reference implementation's LIF: H = V + (X - V) / tau, spike on
  H >= v_th, sigmoid surrogate (alpha = 4), detached hard reset.

Input and output are (N, ..., T), time last. ``set_neuron_mode(model, mode)``
switches every SN of a model at once.
"""

import torch
from . import kernels
from .slayer import CUBA_RHO, cuba, quantize

from .. import fixedpoint as fx
from ..errors import ConfigError

NEURON_MODES = ("deploy", "float")
SURROGATE_ALPHA = 4.0
F64_EXACT = float(1 << 24)  # bound on T * max |input| for the float64 path of the deploy neuron


class _FloatLif(torch.autograd.Function):
    """The reference multi-step LIF over the last axis with its surrogate
    gradient written out (the autograd graph of the per-step loop, in one
    node). The state keeps the input's memory layout (no copies); the forward
    uses the reference's expressions, so its spikes are the same. Float32 CPU
    tensors take the compiled loops (lava_msf.model.kernels), others these."""

    @staticmethod
    def forward(ctx, x, threshold, tau):
        ctx.threshold, ctx.tau, ctx.compiled = threshold, tau, kernels.usable(x)
        if ctx.compiled:
            spikes, u = kernels.float_lif_forward(x, threshold, tau, SURROGATE_ALPHA)
            ctx.save_for_backward(u, spikes)
            return spikes
        steps = x.movedim(-1, 0)
        h, spikes = torch.empty_like(steps), torch.empty_like(steps)
        v = torch.zeros_like(steps[0])
        for t in range(len(steps)):
            h[t] = v + (steps[t] - v) / tau
            spikes[t] = (h[t] - threshold >= 0).to(x.dtype)
            v = h[t] * (1 - spikes[t])
        ctx.save_for_backward(SURROGATE_ALPHA * (h - threshold), spikes)
        return spikes.movedim(0, -1)

    @staticmethod
    def backward(ctx, grad):
        u, spikes = ctx.saved_tensors  # u = alpha (h - threshold)
        sg = torch.sigmoid(u)
        if ctx.compiled:
            return kernels.float_lif_backward(sg, grad, spikes, SURROGATE_ALPHA, ctx.tau), None, None
        g = grad.movedim(-1, 0) * (SURROGATE_ALPHA * sg * (1 - sg))
        g_v = torch.zeros_like(g[0])  # dL/dV through the next step (the reset is detached)
        for t in range(len(g) - 1, -1, -1):
            g[t] += g_v * (1 - spikes[t])
            g_v = g[t] * (1 - 1 / ctx.tau)
        return g.movedim(0, -1) / ctx.tau, None, None


def float_lif(x: torch.Tensor, threshold: float, tau: float = fx.TAU) -> torch.Tensor:
    """Reference multi-step LIF over the last axis: H = V + (X - V) / tau,
    spike on H >= threshold, sigmoid surrogate, detached hard reset."""
    return _FloatLif.apply(x, threshold, tau)


class _CubaSpikes(torch.autograd.Function):
    """SLAYER's CUBA neuron on X / tau. With full current decay CUBA's current
    stage is the identity on input quantized to 1/4096, which the voltage stage
    quantizes again anyway; so only the voltage stage and the spike function
    run (equal to cuba.Neuron.forward, tested), fused here: the leaky-integrator
    dynamics (integer voltage, decay by a toward-zero shift, reset on the scaled
    threshold) and Spike function (Laplace surrogate), stepped per time step
    and with the same float32 expressions, so spikes and
    gradients equal SLAYER's bit for bit (tested) at a fraction of the cost.
    x: (N, ..., T) SN input (before the 1/tau), in any memory layout, kept.
    Float32 CPU tensors in the float64 range take the compiled loops."""

    @staticmethod
    def forward(ctx, x, neuron):
        c = neuron.cuba
        w_scale, decay = c.s_scale, int(quantize(c.voltage_decay))
        reset = (c.threshold + c.threshold_eps) * w_scale
        keep = ((1 << 12) - decay) / (1 << 12)
        threshold = c.threshold + c.threshold_eps
        ctx.neuron = neuron
        threshold32, tau_rho, _, _ = _surrogate_constants(c, x)
        # SLAYER keeps the voltage in int64; while |v| < 2**24 float64 holds it, its decay
        # (a division truncating to zero) and its float32 comparisons exactly, and is faster
        if x.numel() == 0:
            exact = True
        else:  # the largest |w_scale x / tau|: rounding is monotone, so scaling the extremes is exact
            lo, hi = torch.aminmax(x.detach())
            extreme = torch.maximum(-lo, hi)
            exact = float(w_scale * (extreme / fx.TAU)) * x.shape[-1] < F64_EXACT
        ctx.compiled = exact and kernels.usable(x)
        if ctx.compiled:
            spikes, e = kernels.cuba_forward(x, fx.TAU, w_scale, keep, reset, threshold, float(tau_rho))
            ctx.save_for_backward(e)
            return spikes
        scaled = (w_scale * (x / fx.TAU)).movedim(-1, 0)
        voltage = torch.empty_like(scaled)  # the input's memory layout: no copies
        steps = torch.trunc(scaled).to(torch.float64) if exact else scaled.to(torch.int64)
        v = torch.zeros_like(steps[0])
        for t in range(len(steps)):
            # SLAYER: right_shift_to_zero(v * (4096 - decay), 12)
            v = (torch.trunc(v * keep) if exact else
                 torch.div(v * ((1 << 12) - decay), 1 << 12, rounding_mode="trunc")) + steps[t]
            voltage[t] = v / w_scale
            v = v * (v < reset)
        ctx.save_for_backward((-torch.abs(voltage - threshold32) / tau_rho).movedim(0, -1))
        return (voltage >= threshold).to(x.dtype).movedim(0, -1)

    @staticmethod
    def backward(ctx, grad):
        (e,) = ctx.saved_tensors  # e = -|voltage - threshold| / tau_rho
        ex = torch.exp(e)
        _, _, coef, decay = _surrogate_constants(ctx.neuron.cuba, e)
        if ctx.compiled:
            return kernels.cuba_backward(ex, grad, float(coef), float(decay), fx.TAU), None
        g = (coef * ex).movedim(-1, 0) * grad.movedim(-1, 0)
        for t in range(len(g) - 2, -1, -1):  # the leaky integrator's adjoint, back in time
            g[t] = decay * g[t + 1] + g[t]
        return g.movedim(0, -1) / fx.TAU, None


def _surrogate_constants(c: cuba.Neuron, like: torch.Tensor) -> tuple:
    """SLAYER's float32 threshold, tau_rho, Laplace peak scale_rho / 2 / tau_rho
    and voltage decay 1 - decay/4096, as 0-d tensors."""
    f32 = dict(dtype=like.dtype if like.is_floating_point() else torch.float32, device=like.device)
    threshold = torch.tensor(c.threshold + c.threshold_eps, **f32)
    tau_rho = torch.tensor(c.tau_rho * CUBA_RHO[0], **f32)
    scale_rho = torch.tensor(c.scale_rho * CUBA_RHO[1], **f32)
    decay = 1 - quantize(c.voltage_decay).to(**f32) / (1 << 12)
    return threshold, tau_rho, scale_rho / 2 / tau_rho, decay


def _cuba_neuron(threshold: float) -> cuba.Neuron:
    # SLAYER's surrogate is a Laplace kernel scale_rho/(2 tau_rho) exp(-|v - th| / tau_rho),
    # tau_rho = 100 tau_grad th and scale_rho = 0.1 scale_grad. tau_rho = 0.5 and
    # scale_rho = 1 give the float mode's sigmoid(4) its peak (1) and area (1).
    return cuba.Neuron(
        **fx.LifParams.from_threshold(threshold).slayer_args(),
        tau_grad=0.5 / (100 * threshold),
        scale_grad=10.0,
        shared_param=True,
        persistent_state=False,
        requires_grad=False,
    )


class SpikingNeuron(torch.nn.Module):
    """The SN of Meta-SpikeFormer. Stateless between calls: each call is a sample."""

    def __init__(self, threshold: float = fx.THRESHOLD, mode: str = "deploy"):
        super().__init__()
        self.threshold = threshold
        self.mode = check_mode(mode)
        self.cuba = _cuba_neuron(threshold)
        self.last_rate: float | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "float":
            s = float_lif(x, self.threshold)
        else:
            s = _CubaSpikes.apply(x, self)
        self.last_rate = float(s.detach().mean())
        return s

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, mode={self.mode}"


def check_mode(mode: str) -> str:
    if mode not in NEURON_MODES:
        raise ConfigError(f"unknown neuron mode {mode!r}; choose one of {', '.join(NEURON_MODES)}")
    return mode


def set_neuron_mode(model: torch.nn.Module, mode: str) -> torch.nn.Module:
    """Switch every SpikingNeuron of `model` to `mode` ('deploy' or 'float')."""
    check_mode(mode)
    for m in model.modules():
        if isinstance(m, SpikingNeuron):
            m.mode = mode
    if hasattr(model, "config"):
        model.config["neuron"] = mode
    return model


def spiking_neurons(model: torch.nn.Module):
    return [m for m in model.modules() if isinstance(m, SpikingNeuron)]
