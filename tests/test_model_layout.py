"""The training layout (lava_msf.model.layers): activations are channels-last
frames seen as (N, C, H, W, T); convs, BatchNorms and neurons keep it without
copies and compute what the plain (time-last, contiguous) formulation does."""

import pytest
import torch

from lava_msf import fixedpoint as fx
from lava_msf.model import neuron as sn_module
from lava_msf.model.layers import BatchNorm, as_frames, conv, from_frames
from lava_msf.model.neuron import SURROGATE_ALPHA, SpikingNeuron

import official_sdt


def _looped_float_lif(x, threshold):
    """The float SN as an autograd graph of its per-step loop: spikingjelly's
    training LIF (the official code's, time first) with the same surrogate."""
    return official_sdt.TrainingLIF(threshold)(x.movedim(-1, 0)).movedim(0, -1)


def test_float_neuron_gradient_equals_the_looped_definition():
    assert SURROGATE_ALPHA == official_sdt.SIGMOID_ALPHA
    torch.manual_seed(0)
    x = (torch.randn(6, 5, 3, 3, 8) * 1.5 + 0.8).requires_grad_()
    weights = torch.randn(6, 5, 3, 3, 8)
    s = SpikingNeuron(1.0, "float")(x)
    (g,) = torch.autograd.grad((s * weights).sum(), x)
    x_ref = x.detach().clone().requires_grad_()
    s_ref = _looped_float_lif(x_ref, 1.0)
    (g_ref,) = torch.autograd.grad((s_ref * weights).sum(), x_ref)
    assert torch.equal(s, s_ref) and s.any()
    # float32, a few terms per element: relative error far below 1e-4 whatever the CPU
    assert torch.allclose(g, g_ref, rtol=1e-4, atol=1e-6) and g.abs().max() > 0


def test_deploy_neuron_float64_and_int64_paths_agree_with_slayer():
    sn = SpikingNeuron(1.0, "deploy")
    torch.manual_seed(1)
    small = torch.randn(4, 7, 12) * 3
    huge = small * 1e6  # beyond the float64 path's bound: SLAYER's int64 arithmetic
    assert float((sn.cuba.s_scale * huge / fx.TAU).abs().max()) * 12 > sn_module.F64_EXACT
    for x in (small, huge):
        assert torch.equal(sn(x), sn.cuba(x / fx.TAU))


def test_frames_are_views_in_the_model_layout():
    torch.manual_seed(2)
    c = conv(4, 6, 3, padding=1)
    x = torch.randn(2, 4, 5, 5, 3)
    y = c(x)
    assert y.shape == (2, 6, 5, 5, 3)
    frames = as_frames(y)
    assert frames.data_ptr() == y.data_ptr() and frames.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(from_frames(frames, 3), y)
    s = SpikingNeuron(1.0, "deploy")(y)
    assert s.stride() == y.stride()  # the neuron keeps the layout


@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_equals_batchnorm3d(training):
    torch.manual_seed(3)
    ours, plain = BatchNorm(6), torch.nn.BatchNorm3d(6)
    with torch.no_grad():
        ours.weight.uniform_(0.5, 1.5)
        ours.bias.uniform_(-1, 1)
        ours.running_mean.uniform_(-1, 1)
        ours.running_var.uniform_(0.5, 2)
    plain.load_state_dict(ours.state_dict())
    x = conv(4, 6, 3, padding=1)(torch.randn(3, 4, 5, 5, 4)).detach()
    ours.train(training), plain.train(training)
    y, y_ref = ours(x), plain(x.contiguous())
    # the same statistics summed in another order: float32 rounding only
    assert torch.allclose(y, y_ref, rtol=1e-4, atol=1e-5)
    assert torch.allclose(ours.running_mean, plain.running_mean, atol=1e-6)
    assert torch.allclose(ours.running_var, plain.running_var, rtol=1e-5)


@pytest.mark.parametrize("mode", ["float", "deploy"])
@pytest.mark.parametrize("layout", ["frames", "time-last"])
def test_compiled_time_loops_equal_the_torch_loops_bit_for_bit(mode, layout, monkeypatch):
    """lava_msf.model.kernels against the torch loops they replace: the same
    spikes and the same gradients, exactly, in either memory layout and for a
    broadcast (stride-0) gradient too."""
    from lava_msf.model import kernels

    torch.manual_seed(4)
    x = torch.randn(3, 5, 4, 4, 6) * 1.5 + 0.8  # (N, C, H, W, T)
    if layout == "frames":  # the model's: (N, T, H, W, C) in memory
        x = from_frames(as_frames(x), 6)
    weights = torch.randn(3, 5, 4, 4, 6)
    sn = SpikingNeuron(1.0, mode)

    def run():
        xi = x.detach().clone().requires_grad_()
        s = sn(xi)
        (g,) = torch.autograd.grad((s * weights).sum(), xi)
        xj = x.detach().clone().requires_grad_()
        (g_flat,) = torch.autograd.grad(sn(xj).sum(), xj)
        return s, g, g_flat

    assert kernels.usable(x)
    compiled = run()
    monkeypatch.setattr(kernels, "usable", lambda t: False)
    looped = run()
    assert compiled[0].any() and compiled[1].abs().max() > 0
    for a, b in zip(compiled, looped):
        assert torch.equal(a, b)
