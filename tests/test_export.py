"""Export to the integer graph, the reference executor (numpy and torch backends)
and the .net file."""

import numpy as np
import pytest
import torch

from lava_msf.data import load_dataset
from lava_msf.export import TorchBackend, export_network, quantize_weight
from lava_msf.layers.synapse import WEIGHT_MAX, WEIGHT_MIN
from lava_msf.model.neuron import SpikingNeuron
from lava_msf.netfile import read_net, write_net
from lava_msf.reference import Executor, NumpyBackend, network_inputs

from conftest import warmed_model


def test_quantize_weight_is_loihi_8_bit_mixed_sign():
    w = np.array([0.5, -1.9, 0.013, 0.0])
    mant, exp = quantize_weight(w)
    assert (mant % 2 == 0).all() and mant.min() >= WEIGHT_MIN and mant.max() <= WEIGHT_MAX
    assert np.abs(mant * 2.0 ** exp / 64 - w).max() <= 2.0 ** exp / 64  # within one LSB
    assert quantize_weight(w * 100)[1] == exp + 7


@pytest.mark.parametrize("sdsa", ["v2", "v1_kv", "v1_qk"])
def test_numpy_and_torch_executors_are_identical(sdsa):
    model = warmed_model("msf_micro", sdsa=sdsa, timesteps=3)
    net = export_network(model)
    data = load_dataset("digits", "test", 32)
    frames = network_inputs(net, data.x[:12])
    probes_np, probes_t = {}, {}
    out_np = Executor(net, NumpyBackend).run(frames, probes_np)
    out_t = Executor(net, TorchBackend).run(torch.from_numpy(frames), probes_t).numpy()
    np.testing.assert_array_equal(out_np, out_t)
    for name in probes_np:  # every layer, every step
        np.testing.assert_array_equal(np.stack(probes_np[name]), torch.stack(probes_t[name]).numpy(), err_msg=name)
    attention = np.stack(probes_np["stage3.1.sdsa.attention"])
    assert 0 < attention.mean() < 1


def test_tiny_executors_identical_on_a_handful():
    model = warmed_model("msf_tiny")
    net = export_network(model)
    frames = network_inputs(net, load_dataset("digits", "test", 32).x[:3])
    out_np = Executor(net, NumpyBackend).run(frames)
    np.testing.assert_array_equal(out_np, Executor(net, TorchBackend).run(torch.from_numpy(frames)).numpy())


def test_quantized_network_tracks_the_float_model():
    """Scale and bias folding: the integer currents and spikes follow the torch
    deployable model up to quantization."""
    model = warmed_model("msf_micro")
    net = export_network(model)
    x = load_dataset("digits", "test", 32).x[:16]
    probes = {}
    Executor(net, TorchBackend).run(torch.from_numpy(network_inputs(net, x)), probes)
    spikes = {}
    hooks = [m.register_forward_hook(lambda m, i, o, n=n: spikes.__setitem__(n, o)) for n, m in
             model.named_modules() if isinstance(m, SpikingNeuron)]
    with torch.no_grad():
        stem = model.stem(model._as_steps(torch.from_numpy(x)))
        model(torch.from_numpy(x))
    for h in hooks:
        h.remove()
    current = torch.stack(probes["stem.conv"], -1).double()
    expected = stem.double() * 64 / 2  # current units: X / tau x 64
    err = (current - expected).abs()
    assert err.max() <= 0.05 * expected.abs().max() and err.mean() <= 0.05 * expected.abs().mean()
    for layer, module in (("stage1.0.sepconv.sn1", "stage1.0.sepconv.sn1"),
                          ("stage1.0.sepconv.pw1", "stage1.0.sepconv.sn2")):
        q = torch.stack(probes[layer], -1).float()
        assert 0.01 < float(q.mean()) and (q != spikes[module]).float().mean() < 0.03, layer


def test_net_file_round_trip(tmp_path):
    net = export_network(warmed_model("msf_micro", sdsa="v1_qk"))
    path = tmp_path / "micro.net"
    write_net(net, path)
    back = read_net(path)
    assert back.timesteps == net.timesteps and back.meta["config"]["name"] == "msf_micro"
    for a, b in zip(net.layers, back.layers, strict=True):
        assert (a.name, a.type, a.shape, tuple(a.inputs), a.neuron, a.weight_exp) == \
               (b.name, b.type, b.shape, tuple(b.inputs), b.neuron, b.weight_exp)
        for key in ("weight", "bias"):
            x, y = getattr(a, key), getattr(b, key)
            assert (x is None and y is None) or np.array_equal(x, y)
        if a.type in ("sdsa", "mean", "conv"):
            assert {k: a.attrs.get(k) for k in b.attrs} == b.attrs
    frames = network_inputs(net, load_dataset("digits", "test", 32).x[:4])
    np.testing.assert_array_equal(Executor(net).run(frames), Executor(back).run(frames))
