"""The SN in both modes against hand-computed traces, each other, SLAYER and the
fixed-point definition in lava_msf.fixedpoint."""

import numpy as np
import pytest
import torch

from lava_msf import create_model, fixedpoint as fx
from lava_msf.errors import ConfigError
from lava_msf.model.neuron import SpikingNeuron, set_neuron_mode, spiking_neurons


def run(mode, seq, threshold=1.0):
    x = torch.tensor(seq, dtype=torch.float32).view(1, 1, -1)
    return SpikingNeuron(threshold, mode)(x).view(-1).tolist()


# X = 1, 1, 3, 0, 4, 0.5:  H = 0.5, 0.75, 1.875 (spike, reset), 0, 2 (spike), 0.25
HAND_SEQ = [1.0, 1.0, 3.0, 0.0, 4.0, 0.5]
HAND_SPIKES = [0, 0, 1, 0, 1, 0]


@pytest.mark.parametrize("mode", ["float", "deploy"])
def test_hand_computed_trace(mode):
    assert run(mode, HAND_SEQ) == HAND_SPIKES


@pytest.mark.parametrize("mode", ["float", "deploy"])
def test_attention_threshold_half(mode):
    # X = 0.6, 0.6: H = 0.3, 0.45 | X = 0.6, 1.0: H = 0.3, 0.65 -> spike at 0.5 only
    assert run(mode, [0.6, 0.6], 0.5) == [0, 0]
    assert run(mode, [0.6, 1.0], 0.5) == [0, 1]
    assert run(mode, [0.6, 1.0], 1.0) == [0, 0]


def test_threshold_equality_is_where_the_modes_differ():
    # H = 1.0 exactly: the reference fires on H >= v_th, Loihi/Lava on v > v_th.
    assert run("float", [2.0]) == [1]
    assert run("deploy", [2.0]) == [0]


def test_deploy_matches_fixed_point_definition_bit_exactly():
    rng = np.random.default_rng(1)
    a = rng.integers(-300, 300, size=(64, 50, 16))  # integer input, weight-mantissa units
    # the deployable SN computes CUBA(X / tau); feed X = tau * a / 64
    x = torch.from_numpy(a * fx.TAU / fx.WEIGHT_SCALE).float().view(64, 50, 1, 16)
    for threshold in (fx.THRESHOLD, fx.ATTENTION_THRESHOLD):
        spikes = SpikingNeuron(threshold, "deploy")(x).view(64, 50, 16).numpy().astype(bool)
        ref, _ = fx.lif_run(a, fx.LifParams.from_threshold(threshold))
        assert spikes.any() and (~spikes).any()
        np.testing.assert_array_equal(spikes, ref)


def test_deploy_fast_path_equals_slayer_cuba_neuron():
    sn = SpikingNeuron(1.0, "deploy")
    x = torch.randn(8, 6, 4, 4, 12) * 3
    full = sn.cuba(x.reshape(8, -1, 12) / fx.TAU).reshape(x.shape)
    assert torch.equal(sn(x), full)


def test_modes_agree_away_from_threshold():
    torch.manual_seed(3)
    x = torch.randn(4000, 8) * 1.5 + 0.8
    s_float = SpikingNeuron(1.0, "float")(x.view(4000, 1, 8))
    s_dep = SpikingNeuron(1.0, "deploy")(x.view(4000, 1, 8))
    _, h = fx.reference_lif_run(x.numpy())
    # 1/4096 truncation per step keeps the deploy voltage within ~1e-3 of H
    away = (np.abs(h - 1.0) > 1e-2).all(axis=1)
    assert away.sum() > 2000
    assert torch.equal(s_float.view(4000, 8)[away], s_dep.view(4000, 8)[away])
    assert s_float.sum() > 1000


def test_float_mode_surrogate_is_sigmoid_alpha_4():
    x = torch.tensor([[[1.6, 0.0]]], requires_grad=True)  # H[0] = 0.8 -> x - th = -0.2
    SpikingNeuron(1.0, "float")(x)[..., 0].sum().backward()
    sg = torch.sigmoid(torch.tensor(4 * -0.2))
    expected = 4 * sg * (1 - sg) * 0.5  # dS/dH * dH/dX, dH/dX = 1/tau
    assert torch.isclose(x.grad[0, 0, 0], expected, rtol=1e-5)


def test_deploy_mode_has_a_surrogate_gradient():
    x = torch.full((1, 1, 3), 1.6, requires_grad=True)
    SpikingNeuron(1.0, "deploy")(x).sum().backward()
    assert (x.grad.abs() > 0).all()


def test_one_switch_selects_mode_for_the_whole_model():
    m = create_model("msf_micro")
    assert {n.mode for n in spiking_neurons(m)} == {"deploy"}
    set_neuron_mode(m, "float")
    assert {n.mode for n in spiking_neurons(m)} == {"float"} and m.config["neuron"] == "float"
    with pytest.raises(ConfigError):
        set_neuron_mode(m, "analog")


def test_fixed_point_neuron_parameters_are_netx_cuba():
    p = fx.LifParams.from_threshold(fx.THRESHOLD).netx_neuron()
    assert p == {"type": "CUBA", "iDecay": 4096, "vDecay": 2048, "vThMant": 64, "refDelay": 1,
                 "gradedSpike": False}
    assert fx.LifParams.from_threshold(fx.ATTENTION_THRESHOLD).vth_mant == 32


def test_fixed_point_24_bit_limits():
    # voltage saturates: u = (2**16 + 2**15) << 6 = 6291456; v2 = 6291456 / 2 + u > 2**23 - 1
    _, v = fx.lif_run(np.full((1, 3), 2 ** 16 + 2 ** 15), fx.LifParams(vth_mant=1 << 40))
    assert v[0].tolist() == [6291456, fx.STATE_LIMIT, fx.STATE_LIMIT]
    # current wraps around past 2**23, as in Lava's LIF: (2**17 + 5) << 6 = 2**23 + 320
    _, v = fx.lif_run(np.array([[2 ** 17 + 5]]), fx.LifParams.from_threshold(1.0))
    assert v[0, 0] == -(2 ** 23) + 320
