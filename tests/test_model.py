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
                         [(7, 1, 3, 6, False), (3, 2, 1, 1, True), (1, 1, 0, 1, False)])
def test_conv_synapse_equals_slayer_conv(kernel, stride, padding, groups, bias):
    from lava_msf.model.layers import conv
    from lava_msf.model.slayer import synapse

    ours = conv(6, 12, kernel, stride=stride, padding=padding, groups=groups, bias=bias)
    ref = synapse.Conv(6, 12, kernel, stride=stride, padding=padding, groups=groups)
    ref.weight.data.copy_(ours.weight.data)
    if bias:
        ours.bias.data.uniform_(-1, 1)
        ref.bias = torch.nn.Parameter(ours.bias.data.clone())
    x = (torch.rand(2, 6, 9, 9, 3) < 0.3).float()
    assert torch.allclose(ours(x), ref(x), atol=1e-5)
