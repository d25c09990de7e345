"""lava-dl's NTIDIGITS network (`gts/ntidigits/ntidigits.net`, shipped with its
NetX tests): input without neuron, flatten, two dense layers with per-output
axonal delays (up to 62), a third dense, LOIHI neurons, and an `average`
readout NetX itself does not build. lava-msf reads all of it, reproduces the
shipped ground truth, equals stock NetX layer by layer and runs it on Lava."""

import dataclasses

import numpy as np
import pytest

from lava_msf.netfile import read_net
from lava_msf.reference import Executor

from netx_stock import netx_file, run_stock

GT_LAG = 4  # output.npy is the last dense layer's spikes, recorded 4 steps late
HOPS = (1, 2, 3)  # the three dense blocks' delays in stock NetX


@pytest.fixture(scope="module")
def net():
    return read_net(netx_file("gts/ntidigits/ntidigits.net"))


@pytest.fixture(scope="module")
def spikes_in():
    return np.load(netx_file("gts/ntidigits/input.npy")).astype(np.int64)  # (64, 3000)


def frames(x):
    return x.reshape(1, 1, 1, 64, x.shape[-1])  # the input layer is (C, H, W) = (1, 1, 64)


def test_the_file_reads_with_its_delays_and_readout(net):
    assert [layer.type for layer in net.layers] == ["input", "dense", "dense", "dense", "average"]
    assert [None if layer.delay is None else layer.delay.shape for layer in net.layers[1:4]] == [(256,), (256,), None]
    assert int(net.layers[1].delay.max()) == 62
    assert net.layers[-1].shape == (11, 1, 1) and net.layers[-2].shape == (242, 1, 1)


def test_reference_reproduces_the_shipped_ground_truth(net, spikes_in):
    gt = np.load(netx_file("gts/ntidigits/output.npy")).astype(np.int64)  # (242, 3000)
    probes = {}
    readout = Executor(net).run(frames(spikes_in), probes)
    last = np.stack(probes[net.layers[-2].name], axis=-1)[0].reshape(242, -1)
    assert gt.sum() > 20000
    np.testing.assert_array_equal(last[:, :-GT_LAG], gt[:, GT_LAG:])
    assert not gt[:, :GT_LAG].any() and not last[:, -GT_LAG:].any()  # nothing is cut off either end
    # the average: 11 classes of 22 consecutive neurons, the count of each group's spikes
    np.testing.assert_array_equal(readout[0].reshape(11, -1), last.reshape(11, 22, -1).sum(axis=1))
    assert readout.sum(axis=-1).argmax() == gt.reshape(11, 22, -1).sum(axis=(1, 2)).argmax()


def test_stock_netx_equals_the_reference_per_layer(net, spikes_in):
    """Stock NetX builds the layers before `average` (as lava-dl's own test): each block's spikes
    are the reference's, one step later per hop."""
    steps = 100
    x = spikes_in[:, 300:300 + steps]
    run = run_stock(netx_file("gts/ntidigits/ntidigits.net"), x.reshape(1, 1, 64, steps), num_layers=5)
    assert run.blocks == ["Dense"] * 3
    probes = {}
    Executor(net).run(frames(x), probes)
    for layer, hop, stock in zip(net.layers[1:4], HOPS, run.outputs):
        ref = np.stack(probes[layer.name], axis=-1)[0]
        assert ref[..., :steps - hop].any(), layer.name
        np.testing.assert_array_equal(stock[..., hop:], ref[..., :steps - hop], err_msg=layer.name)


def test_lava_backends_equal_the_reference(net, spikes_in):
    from lava_msf.runtime import LavaRunner

    t = 40
    net = dataclasses.replace(net, timesteps=t)
    x = np.stack([spikes_in[:, 400:400 + t], spikes_in[:, 1400:1400 + t]]).reshape(2, 1, 1, 64, t)
    probes = {}
    ref = Executor(net).run(x, probes)
    names = [layer.name for layer in net.layers[1:4]]
    with LavaRunner(net, "lava-cpu", batch_samples=2, probes=names) as runner:
        out, got = runner.run(x)
    assert ref.any()
    np.testing.assert_array_equal(out, ref)
    for name in names:
        np.testing.assert_array_equal(got[name], np.stack(probes[name], axis=-1), err_msg=name)
    with LavaRunner(net, "lava-cpu-fused", batch_samples=2) as runner:
        np.testing.assert_array_equal(runner.run(x)[0], ref)


def test_inspect_and_report(net, spikes_in):
    from lava_msf.analysis.energy import energy, layer_flops, measure_rates
    from lava_msf.chip.loihi2 import LOIHI2
    from lava_msf.chip.report import inspect_network

    rows = inspect_network(net, LOIHI2)["layers"]
    assert [r.get("delay_bits") for r in rows] == [None, 6, 6, None, None]
    assert rows[-1]["synapses"] == 242 and rows[-1]["fan_in"] == 22
    assert [layer_flops(net, i) for i in range(1, 5)] == [256 * 64, 256 * 256, 242 * 256, 242]
    t = 200
    rates = measure_rates(dataclasses.replace(net, timesteps=t), frames(spikes_in[:, 300:300 + t]), progress=False)
    rows = {r["name"]: r for r in energy(net, rates["rates"], t)["layers"]}
    avg = rows[net.layers[-1].name]
    assert avg["op"] == "AC" and avg["driven_by"] == [net.layers[-2].name] and avg["flops"] == 242
    assert avg["sops"] == 242 * t * rates["rates"][net.layers[-2].name] > 0


def test_the_shipped_input_file_reads_in_netx_layout(net, spikes_in):
    """input.npy is (64, T): NetX's flat neuron order of the (1, 1, 64) input, read by --layout netx."""
    from lava_msf.pipeline import read_inputs

    read, _, _ = read_inputs(net, netx_file("gts/ntidigits/input.npy"), "netx")
    np.testing.assert_array_equal(read, frames(spikes_in))
