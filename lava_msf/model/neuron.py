"""The spiking neuron (SN) in its two modes; semantics in lava_msf.fixedpoint.

- ``deploy``: lava-dl SLAYER's CUBA neuron (Lava's LIF) fed X / tau. Fixed-point
  state, strict threshold; export folds the 1/tau into the weights.
- ``float``: the reference implementation's LIF: H = V + (X - V) / tau, spike on
  H >= v_th, sigmoid surrogate (alpha = 4), detached hard reset.

Input and output are (N, ..., T), time last. ``set_neuron_mode(model, mode)``
switches every SN of a model at once.
"""

import torch
from .slayer import cuba, leaky_integrator, quantize

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
    """Reference multi-step LIF over the last axis."""
    v = torch.zeros_like(x[..., 0])
    spikes = []
    for t in range(x.shape[-1]):
        h = v + (x[..., t] - v) / tau
        s = _SigmoidSpike.apply(h - threshold)
        v = h * (1 - s.detach())
        spikes.append(s)
    return torch.stack(spikes, dim=-1)


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
            s = self._cuba_spikes(x.reshape(x.shape[0], -1, x.shape[-1]) / fx.TAU).reshape(x.shape)
        self.last_rate = float(s.detach().mean())
        return s

    def _cuba_spikes(self, x: torch.Tensor) -> torch.Tensor:
        """SLAYER CUBA response to (N, features, T) input.

        With full current decay CUBA's current stage is the identity on input
        quantized to 1/4096, which the voltage stage quantizes again anyway;
        so only the voltage stage and SLAYER's spike function run. Equal to
        cuba.Neuron.forward (tested), at half the cost.
        """
        c = self.cuba
        voltage = leaky_integrator.dynamics(
            x, quantize(c.voltage_decay), torch.zeros(1, device=x.device), c.s_scale,
            c.threshold + c.threshold_eps)
        return c.spike(voltage)

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
