import pytest
import torch

from lava_msf import create_model
from lava_msf.errors import ShapeError


@pytest.mark.parametrize("mode", ["deploy", "float"])
@pytest.mark.parametrize("sdsa", ["v2", "v1_kv", "v1_qk"])
def test_gradients_reach_every_parameter(mode, sdsa):
    torch.manual_seed(0)
    model = create_model("msf_micro", neuron=mode, sdsa=sdsa, timesteps=2)
    x = torch.rand(8, *model.input_shape())
    y = torch.arange(8) % 10
    torch.nn.functional.cross_entropy(model(x), y).backward()
    dead = [n for n, p in model.named_parameters()
            if p.requires_grad and (p.grad is None or not torch.isfinite(p.grad).all() or p.grad.abs().sum() == 0)]
    assert dead == []


def test_image_input_is_repeated_over_time():
    model = create_model("msf_micro", timesteps=3).eval()
    x = torch.rand(2, *model.input_shape())
    with torch.no_grad():
        steps = model.forward_steps(x)
        assert steps.shape == (2, 10, 3)
        assert torch.equal(model.forward_steps(x.unsqueeze(-1).repeat(1, 1, 1, 1, 3)), steps)
        assert torch.allclose(model(x), steps.mean(-1))


def test_event_frames_one_per_step():
    model = create_model("msf_micro", in_channels=2, timesteps=5).eval()
    frames = (torch.rand(2, 2, 32, 32, 7) < 0.1).float()  # any number of steps
    with torch.no_grad():
        assert model.forward_steps(frames).shape == (2, 10, 7)


@pytest.mark.parametrize("shape", [(2, 3, 32, 32), (2, 1, 28, 28), (1, 32, 32), (2, 1, 32, 32, 4, 1)])
def test_wrong_input_shape_is_a_typed_error(shape):
    model = create_model("msf_micro")
    with pytest.raises(ShapeError, match=r"expected input \(N, 1, 32, 32\)"):
        model(torch.zeros(shape))


@pytest.mark.parametrize("kernel, stride, padding, groups, bias",
                         [(7, 1, 3, 6, False), (3, 2, 1, 1, True), (1, 1, 0, 1, False), (1, 1, 0, 1, True)])
def test_conv_synapse_equals_slayer_conv(kernel, stride, padding, groups, bias):
    from lava_msf.model.layers import as_frames, conv, from_frames
    from lava_msf.model.slayer import synapse

    ours = conv(6, 12, kernel, stride=stride, padding=padding, groups=groups, bias=bias)
    ref = synapse.Conv(6, 12, kernel, stride=stride, padding=padding, groups=groups)
    ref.weight.data.copy_(ours.weight.data)
    if bias:
        ours.bias.data.uniform_(-1, 1)
        ref.bias = torch.nn.Parameter(ours.bias.data.clone())
    x = (torch.rand(2, 6, 9, 9, 3) < 0.3).float()
    assert torch.allclose(ours(x), ref(x), atol=1e-5)
    frames = from_frames(as_frames(x), 3).requires_grad_()  # the model's layout
    y = ours(frames)
    assert torch.allclose(y, ref(x), atol=1e-5)
    (g,) = torch.autograd.grad((y * y).sum(), frames)
    x_ref = x.clone().requires_grad_()
    (g_ref,) = torch.autograd.grad((ref(x_ref) ** 2).sum(), x_ref)
    assert torch.allclose(g, g_ref, atol=1e-4) and g.abs().max() > 0


def slayer_sn(sn, x):
    """The deployable SN computed by SLAYER's own leaky integrator and Spike function."""
    from lava_msf.model.slayer import leaky_integrator, quantize

    c = sn.cuba
    flat = x.reshape(x.shape[0], -1, x.shape[-1]) / 2.0
    voltage = leaky_integrator.dynamics(flat, quantize(c.voltage_decay), torch.zeros(1), c.s_scale,
                                        c.threshold + c.threshold_eps)
    return c.spike(voltage).reshape(x.shape)


@pytest.mark.parametrize("threshold", [1.0, 0.5])
def test_fused_deploy_neuron_equals_slayer_bit_for_bit(threshold):
    """Spikes and input gradients of the fused SN equal SLAYER's exactly."""
    from lava_msf.model.neuron import SpikingNeuron

    torch.manual_seed(1)
    sn = SpikingNeuron(threshold, "deploy")
    base = torch.randn(6, 5, 3, 3, 7) * 2
    base[0, 0, 0, 0] = torch.tensor([2.0, 2.0, 1.0, 0.0, -3.0, 2.0, 2.0]) * threshold  # exactly at threshold
    weights = torch.randn(base.shape)  # a loss that weighs every spike differently
    grads = []
    for fn in (sn, lambda x: slayer_sn(sn, x)):
        x = base.clone().requires_grad_(True)
        s = fn(x)
        (s * weights).sum().backward()
        grads.append((s.detach(), x.grad))
    (s_fast, g_fast), (s_ref, g_ref) = grads
    assert torch.equal(s_fast, s_ref) and 0.05 < float(s_ref.mean()) < 0.95
    assert torch.equal(g_fast, g_ref) and float(g_ref.abs().max()) > 0
