"""NetX compatibility, both ways, on Lava's CPU simulator:
- a net exported by lava-dl SLAYER itself reads into lava-msf's reference executor
  and gives the spikes `lava.lib.dl.netx.hdf5.Network` gives on Lava;
- a purely sequential net written by lava-msf runs unmodified in NetX, with the
  spikes of the reference executor.
Each Conv/Dense synapse in Lava delays by one step: NetX's output at step t is
the executor's at t - (number of synapse layers)."""

import h5py
import numpy as np
import torch

from lava_msf.fixedpoint import LifParams
from lava_msf.graph import Layer, Network
from lava_msf.netfile import read_net, write_net
from lava_msf.reference import Executor

STEPS = 14


def run_netx(path, frames_chw_t, input_shape=None):
    """frames (C, H, W, T) spikes -> NetX output spikes (features, T) on Lava fixed_pt."""
    from lava.lib.dl import netx
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source

    kwargs = {} if input_shape is None else {"input_shape": input_shape}
    net = netx.hdf5.Network(net_config=str(path), **kwargs)
    source = Source(data=frames_chw_t.transpose(2, 1, 0, 3).astype(np.int32))  # Lava is (x, y, f)
    sink = Sink(shape=net.out.shape, buffer=frames_chw_t.shape[-1])
    source.s_out.connect(net.inp)
    net.out.connect(sink.a_in)
    try:
        net.run(condition=RunSteps(num_steps=frames_chw_t.shape[-1]), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        return sink.data.get().reshape(-1, frames_chw_t.shape[-1])
    finally:
        net.stop()


def input_spikes(shape, seed=0):
    rng = np.random.default_rng(seed)
    frames = (rng.random((*shape, STEPS)) < 0.35).astype(np.int64)
    frames[..., -4:] = 0
    return frames


def executor_output(net, frames):
    out = Executor(net).run(frames[None])[0]
    return out.reshape(-1, frames.shape[-1])


def assert_delayed_equal(netx_out, ref_out, delay):
    assert ref_out.any(), "the test network must spike"
    np.testing.assert_array_equal(netx_out[:, delay:], ref_out[:, :-delay])


def test_lava_dl_export_runs_in_reference_executor_like_netx(tmp_path):
    from lava.lib.dl import slayer

    torch.manual_seed(1)
    neuron = {"threshold": 1.25, "current_decay": 0.25, "voltage_decay": 0.03, "tau_grad": 0.03,
              "scale_grad": 3, "requires_grad": False}
    blocks = torch.nn.ModuleList([
        slayer.block.cuba.Conv(neuron, 2, 6, 3, padding=1, stride=2, weight_scale=3, weight_norm=False),
        slayer.block.cuba.Flatten(),
        slayer.block.cuba.Dense(neuron, 6 * 4 * 4, 5, weight_scale=3, weight_norm=False),
    ])
    with torch.no_grad():
        x = torch.zeros(1, 2, 8, 8, 2)
        for b in blocks:
            x = b(x)
    path = tmp_path / "slayer.net"
    with h5py.File(path, "w") as f:
        layers = f.create_group("layer")
        for i, b in enumerate(blocks):
            b.export_hdf5(layers.create_group(f"{i}"))

    net = read_net(path, input_shape=(2, 8, 8))
    assert [layer.type for layer in net.layers] == ["input", "conv", "dense"]
    assert (net.layers[1].neuron.vth_mant, net.layers[1].neuron.i_decay) == (80, 1024)  # 1.25 x 64, 0.25 x 4096
    frames = input_spikes((2, 8, 8))
    netx_out = run_netx(path, frames, input_shape=(8, 8, 2))
    assert_delayed_equal(netx_out, executor_output(net, frames), 2)
    # the same plain NetX file on lava-msf's runtime: aligned, no delay left to undo
    from lava_msf.runtime import LavaRunner

    net.timesteps = STEPS
    with LavaRunner(net, "lava-cpu", batch_samples=1) as runner:
        ours, _ = runner.run(frames[None])
    np.testing.assert_array_equal(ours[0].reshape(-1, STEPS)[:, :-2], netx_out[:, 2:])


def test_sequential_lava_msf_net_runs_unmodified_in_netx(tmp_path):
    rng = np.random.default_rng(3)
    conv = {"stride": 1, "padding": 1, "groups": 1}
    layers = [
        Layer("input", "input", (2, 6, 6)),
        Layer("conv1", "conv", (4, 6, 6), (0,), LifParams(vth_mant=60), 2 * rng.integers(-30, 50, (4, 2, 3, 3)),
              0, rng.integers(-20, 20, 4), conv),
        Layer("conv2", "conv", (4, 6, 6), (1,), LifParams(vth_mant=50, i_decay=2048, v_decay=1024),
              2 * rng.integers(-40, 60, (4, 4, 3, 3)), 0, None, conv),
        Layer("fc", "dense", (3, 1, 1), (2,), LifParams(vth_mant=40), 2 * rng.integers(-40, 60, (3, 144)), 0),
    ]
    net = Network(layers, STEPS).validate()
    path = tmp_path / "seq.net"
    write_net(net, path)
    frames = input_spikes((2, 6, 6), seed=4)
    assert_delayed_equal(run_netx(path, frames), executor_output(net, frames), 3)
