"""lava-dl's shipped PilotNet SDNN (gts/pilotnet_sdnn/network.net: Delta input,
non-square stride, SigmaDelta, a Sigma readout) read by lava-msf: its output
equals lava-dl's ground truth output.npy (stock NetX's timing: Executor.warm_up),
and every Lava backend equals the reference on it."""

import numpy as np
import pytest

from lava_msf.netfile import read_net
from lava_msf.reference import Executor

from netx_stock import netx_file
from small_nets import assert_backend_equals_reference


def pilotnet():
    return read_net(netx_file("gts/pilotnet_sdnn/network.net"))


def test_pilotnet_sdnn_reproduces_lava_dl_output():
    """As lava-dl's test_pilotnet_sdnn: input.npy into the input neuron every
    step, 9 Lava steps, the Sigma readout per step."""
    net = pilotnet()
    assert [layer.neuron.form for layer in net.layers] == ["delta"] + ["sigma_delta"] * 7 + ["sigma"]
    frame = np.load(netx_file("gts/pilotnet_sdnn/input.npy")).transpose(2, 1, 0, 3).astype(np.int64)
    gt = np.load(netx_file("gts/pilotnet_sdnn/output.npy"))  # (1, 9): per Lava step
    ex = Executor(net)
    ex.reset(1)
    probes = {}
    ex.warm_up(probes)
    for _ in range(gt.shape[1]):
        ex.step(frame[None, ..., 0], probes)
    out = np.stack(probes[net.output.name][:gt.shape[1]], axis=-1).reshape(gt.shape)
    assert gt.any()
    np.testing.assert_array_equal(out, gt)


@pytest.mark.parametrize("backend", ["lava-cpu", "lava-cpu-fused", "lava-cpu-decomposed"])
def test_pilotnet_sdnn_on_lava_equals_reference(backend):
    net = pilotnet()
    net.timesteps = 3
    rng = np.random.default_rng(0)
    frames = rng.integers(-60, 65, (2, 3, 33, 100, 3))
    assert_backend_equals_reference(net, backend, frames, [net.layers[0].name, net.layers[3].name])
