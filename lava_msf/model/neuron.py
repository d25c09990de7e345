"""The spiking neuron (SN) in its two modes; semantics in lava_msf.fixedpoint.

- ``deploy``: lava-dl SLAYER's CUBA neuron (Lava's LIF) fed X / tau. Fixed-point
  state, strict threshold; export folds the 1/tau into the weights.
- ``float``: the reference implementation's LIF: H = V + (X - V) / tau, spike on
  H >= v_th, sigmoid surrogate (alpha = 4), detached hard reset.

Input and output are (N, ..., T), time last. ``set_neuron_mode(model, mode)``
switches every SN of a model at once.
"""

import torch
from .slayer import CUBA_RHO, cuba, quantize

from .. import fixedpoint as fx
from ..errors import ConfigError

NEURON_MODES = ("deploy", "float")
SURROGATE_ALPHA = 4.0


class _SigmoidSpike(torch.autograd.Function):
    """Heaviside(x) forward, sigmoid(alpha x)' backward."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        sg = torch.sigmoid(SURROGATE_ALPHA * x)
        return grad * SURROGATE_ALPHA * sg * (1 - sg)


def float_lif(x: torch.Tensor, threshold: float, tau: float = fx.TAU) -> torch.Tensor:
    """Reference multi-step LIF over the last axis (stepped over contiguous
    time-first slices: strided per-step slices cost more than the one copy)."""
    steps = x.movedim(-1, 0).contiguous()
    v = torch.zeros_like(steps[0])
    spikes = []
    for xt in steps:
        h = v + (xt - v) / tau
        s = _SigmoidSpike.apply(h - threshold)
        v = h * (1 - s.detach())
        spikes.append(s)
    return torch.stack(spikes, dim=-1)


class _CubaSpikes(torch.autograd.Function):
    """SLAYER's CUBA neuron on X / tau. With full current decay CUBA's current
    stage is the identity on input quantized to 1/4096, which the voltage stage
    quantizes again anyway; so only the voltage stage and the spike function
    run (equal to cuba.Neuron.forward, tested), fused here: the leaky-integrator
    dynamics (int64 voltage, decay by a toward-zero shift, reset on the scaled
    threshold) and Spike function (Laplace surrogate), stepped over contiguous
    time-first slices and with the same float32 expressions, so spikes and
    gradients equal SLAYER's bit for bit (tested) at a fraction of the cost.
    x: (N, F, T) SN input (before the 1/tau)."""

    @staticmethod
    def forward(ctx, x, neuron):
        c = neuron.cuba
        w_scale, decay = c.s_scale, int(quantize(c.voltage_decay))
        reset = (c.threshold + c.threshold_eps) * w_scale
        steps = (w_scale * (x / fx.TAU)).movedim(-1, 0).to(torch.int64).contiguous()
        voltage = torch.empty(steps.shape, dtype=x.dtype, device=x.device)
        v = torch.zeros_like(steps[0])
        for t in range(len(steps)):
            # SLAYER: right_shift_to_zero(v * (4096 - decay), 12), i.e. division truncating to zero
            v = torch.div(v * ((1 << 12) - decay), 1 << 12, rounding_mode="trunc") + steps[t]
            voltage[t] = v / w_scale
            v = v * (v < reset)
        threshold = c.threshold + c.threshold_eps
        ctx.save_for_backward(voltage)
        ctx.neuron = neuron
        return (voltage >= threshold).to(x.dtype).movedim(0, -1).contiguous()

    @staticmethod
    def backward(ctx, grad):
        (voltage,) = ctx.saved_tensors
        c = ctx.neuron.cuba
        f32 = dict(dtype=voltage.dtype, device=voltage.device)
        threshold = torch.tensor(c.threshold + c.threshold_eps, **f32)
        tau_rho = torch.tensor(c.tau_rho * CUBA_RHO[0], **f32)
        scale_rho = torch.tensor(c.scale_rho * CUBA_RHO[1], **f32)
        surrogate = scale_rho / 2 / tau_rho * torch.exp(-torch.abs(voltage - threshold) / tau_rho)
        g = surrogate * grad.movedim(-1, 0)
        decay = 1 - quantize(c.voltage_decay).to(**f32) / (1 << 12)
        for t in range(len(g) - 2, -1, -1):  # the leaky integrator's adjoint, back in time
            g[t] = decay * g[t + 1] + g[t]
        return g.movedim(0, -1) / fx.TAU, None


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
            s = _CubaSpikes.apply(x.reshape(x.shape[0], -1, x.shape[-1]), self).reshape(x.shape)
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
