"""Compiled (numba) time loops of the two SN modes, for float32 CPU tensors.

Each direction is one pass over memory, where the torch loops make about ten
per time step. The arithmetic is the torch loops', operation for operation in
the same precision: IEEE +, -, *, / round alike on every CPU, and numba
contracts nothing into FMAs without fastmath. So spikes and gradients are equal
bit for bit (tests/test_model_layout.py). Exponentials and sigmoids stay in
torch, whose last bit libm need not share. The loops are serial: numba's
threading layers either reset torch's OpenMP thread count (omp) or abort on
concurrent calls (workqueue).

A tensor (N, ..., T) is seen in its memory order as (A, T, B): A and B are
the dims its strides put before and after the time axis, whatever the layout.
"""

import numpy as np
import torch
from numba import njit

f32 = np.float32


def time_view(x: torch.Tensor):
    """x (..., T) as a numpy (A, T, B) array over the same memory, or None when
    its dims do not lie in memory as one dense block."""
    order = sorted(range(x.dim()), key=lambda d: -x.stride(d))
    dense = x.permute(order)
    if not dense.is_contiguous():
        return None
    time_at = order.index(x.dim() - 1)
    shape = dense.shape
    return dense.detach().numpy().reshape(int(np.prod(shape[:time_at])), shape[time_at], -1)


def usable(x: torch.Tensor) -> bool:
    """The compiled loops take x (and tensors laid out as x)."""
    return x.device.type == "cpu" and x.dtype == torch.float32 and time_view(x) is not None


def _laid_out_as(grad: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return grad if grad.stride() == like.stride() and grad.dtype == like.dtype else \
        torch.empty_like(like).copy_(grad)


@njit(cache=True)
def _float_forward(x, threshold, tau, alpha, s, u):
    for a in range(x.shape[0]):
        for b in range(x.shape[2]):
            v = f32(0)
            for t in range(x.shape[1]):
                h = v + (x[a, t, b] - v) / tau
                d = h - threshold
                spike = f32(1) if d >= f32(0) else f32(0)
                s[a, t, b], u[a, t, b] = spike, alpha * d
                v = h * (f32(1) - spike)


@njit(cache=True)
def _float_backward(sg, grad, s, alpha, keep, tau, g):
    for a in range(g.shape[0]):
        for b in range(g.shape[2]):
            g_v = f32(0)
            for t in range(g.shape[1] - 1, -1, -1):
                gt = grad[a, t, b] * (alpha * sg[a, t, b] * (f32(1) - sg[a, t, b]))
                gt = gt + g_v * (f32(1) - s[a, t, b])
                g_v = gt * keep
                g[a, t, b] = gt / tau


@njit(cache=True)
def _cuba_forward(x, tau, w_scale, keep, reset, threshold, tau_rho, s, e):
    """The integer voltage in float64, exact below the caller's bound."""
    scale32 = f32(w_scale)
    for a in range(x.shape[0]):
        for b in range(x.shape[2]):
            v = 0.0
            for t in range(x.shape[1]):
                scaled = scale32 * (x[a, t, b] / tau)
                v = np.trunc(v * keep) + np.trunc(np.float64(scaled))
                voltage = f32(v / w_scale)
                s[a, t, b] = f32(1) if voltage >= threshold else f32(0)
                e[a, t, b] = -abs(voltage - threshold) / tau_rho
                if not v < reset:
                    v = 0.0


@njit(cache=True)
def _cuba_backward(ex, grad, coef, decay, tau, g):
    for a in range(g.shape[0]):
        for b in range(g.shape[2]):
            g_next = f32(0)
            for t in range(g.shape[1] - 1, -1, -1):
                gt = coef * ex[a, t, b] * grad[a, t, b]
                if t < g.shape[1] - 1:
                    gt = decay * g_next + gt
                g_next = gt
                g[a, t, b] = gt / tau


def float_lif_forward(x, threshold: float, tau: float, alpha: float):
    """(spikes, alpha (h - threshold)), laid out as x (N, ..., T)."""
    s, u = torch.empty_like(x), torch.empty_like(x)
    _float_forward(time_view(x), f32(threshold), f32(tau), f32(alpha), time_view(s), time_view(u))
    return s, u


def float_lif_backward(sg, grad, s, alpha: float, tau: float):
    """dL/dx from sigmoid(alpha (h - threshold)) and dL/ds."""
    g = torch.empty_like(s)
    _float_backward(time_view(sg), time_view(_laid_out_as(grad, s)), time_view(s), f32(alpha),
                    f32(1 - 1 / tau), f32(tau), time_view(g))
    return g


def cuba_forward(x, tau: float, w_scale: float, keep: float, reset: float, threshold: float, tau_rho: float):
    """(spikes, -|voltage - threshold| / tau_rho), laid out as x (N, ..., T)."""
    s, e = torch.empty_like(x), torch.empty_like(x)
    _cuba_forward(time_view(x), f32(tau), float(w_scale), float(keep), float(reset), f32(threshold), f32(tau_rho),
                  time_view(s), time_view(e))
    return s, e


def cuba_backward(ex, grad, coef: float, decay: float, tau: float):
    """dL/dx from exp(e) (the surrogate's kernel) and dL/ds."""
    g = torch.empty_like(ex)
    _cuba_backward(time_view(ex), time_view(_laid_out_as(grad, ex)), f32(coef), f32(decay), f32(tau), time_view(g))
    return g
