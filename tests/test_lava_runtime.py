"""The Lava runtime: the exported network as Lava processes on Loihi2SimCfg,
bit-exact with the reference executor; each project process against an
independent formula or Lava's stock process; clean shutdown."""

import multiprocessing

import numpy as np
import pytest

from lava_msf import fixedpoint as fx
from lava_msf.data import load_dataset
from lava_msf.export import export_network
from lava_msf.graph import Layer, Network
from lava_msf.reference import Executor, network_inputs
from lava_msf.runtime import LavaRunError, LavaRunner
from lava_msf.errors import GraphError, ShapeError

from conftest import warmed_model


def digits_frames(net, n):
    return network_inputs(net, load_dataset("digits", "test", 32).x[:n])


def assert_no_children():
    assert multiprocessing.active_children() == []


@pytest.mark.parametrize("sdsa", ["v2", "v1_kv", "v1_qk"])
def test_micro_on_lava_equals_reference(sdsa):
    net = export_network(warmed_model("msf_micro", sdsa=sdsa, timesteps=3))
    frames = digits_frames(net, 3)
    probes = {}
    ref = Executor(net).run(frames, probes)
    attention = "stage3.1.sdsa.attention"
    # batches of 2: the second batch reuses the running graph
    with LavaRunner(net, "lava-cpu", batch_samples=2, probes=[attention]) as runner:
        out, lava_probes = runner.run(frames)
    assert ref.any()
    np.testing.assert_array_equal(out, ref)
    ref_attention = np.stack(probes[attention], axis=-1)
    assert 0 < ref_attention.mean() < 1
    np.testing.assert_array_equal(lava_probes[attention], ref_attention)
    assert_no_children()


def test_tiny_on_lava_equals_reference():
    net = export_network(warmed_model("msf_tiny"))
    frames = digits_frames(net, 2)
    with LavaRunner(net, "lava-cpu", batch_samples=2) as runner:
        out, _ = runner.run(frames)
    ref = Executor(net).run(frames)
    assert ref.any()
    np.testing.assert_array_equal(out, ref)


def _spiking_conv(name, src, c_in, c_out, rng, neuron=True, bias=False, exp=0, **attrs):
    w = rng.integers(-40, 60, (c_out, c_in // attrs.get("groups", 1), 3, 3)) * 2
    return Layer(name, "conv", (c_out, 6, 6), (src,), neuron=fx.LifParams() if neuron else None, weight=w,
                 weight_exp=exp, bias=rng.integers(-30, 30, c_out) if bias else None,
                 attrs={"padding": 1, **attrs})


def naive_sdsa(variant, heads, scale, q, k, v, neuron):
    """Q, K, V spikes (T, tokens, C) -> output spikes (T, tokens, C), written
    independently of the project's code: loops over heads, counts as sums of
    products of 0/1 values."""
    steps, tokens, c = q.shape
    d = c // heads
    if variant == "v2":
        current = np.zeros((steps, tokens, c), dtype=np.int64)
        for h in range(heads):
            sl = slice(h * d, (h + 1) * d)
            for t in range(steps):
                kv = k[t][:, sl].T @ v[t][:, sl]  # (d, d): coincidence counts of K and V channels
                current[t][:, sl] = q[t][:, sl] @ kv
    elif variant == "v1_kv":
        current = (k * v).sum(axis=1, keepdims=True)  # (T, 1, C)
    else:
        current = np.stack([(q * k)[:, :, h * d:(h + 1) * d].sum(axis=2) for h in range(heads)], axis=2)
    spikes, _ = fx.lif_run(np.moveaxis(scale * current, 0, -1), neuron)
    spikes = np.moveaxis(spikes, -1, 0).astype(np.int64)
    if variant == "v2":
        return spikes
    if variant == "v1_kv":
        return q * spikes
    return v * np.repeat(spikes, d, axis=2)


@pytest.mark.parametrize("variant", ["v2", "v1_kv", "v1_qk"])
def test_sdsa_process_equals_naive_formula(variant):
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg

    from lava_msf.runtime.proc.frame_source.process import FrameSource
    from lava_procs.recorder.process import Recorder
    from lava_msf.runtime.proc.sdsa.process import SDSA

    rng = np.random.default_rng(7)
    steps, batch, (w, h, c), heads = 6, 2, (3, 2, 8), 2  # two samples per step, each its own attention
    qkv = [(rng.random((steps, batch, w, h, c)) < p).astype(np.int32) for p in (0.5, 0.4, 0.6)]
    neuron = fx.LifParams(vth_mant={"v2": 16, "v1_kv": 6, "v1_qk": 4}[variant])
    sdsa = SDSA(shape=(batch, w, h, c), variant=variant, heads=heads, scale=4, vth_mant=neuron.vth_mant,
                i_decay=neuron.i_decay, v_decay=neuron.v_decay, reset_interval=steps, reset_offset=1)
    sources = [FrameSource(frames=x, graded=False) for x in qkv]
    for src, port in zip(sources, (sdsa.q_in, sdsa.k_in, sdsa.v_in)):
        src.s_out.connect(port)
    rec = Recorder(shape=(batch, w, h, c), steps=steps)
    sdsa.s_out.connect(rec.a_in)
    try:
        sdsa.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        got = rec.record.get()
    finally:
        sdsa.stop()
    for n in range(batch):
        q, k, v = (x[:, n].reshape(steps, w * h, c).astype(np.int64) for x in qkv)
        expected = naive_sdsa(variant, heads, 4, q, k, v, neuron).reshape(steps, w, h, c)
        assert 0 < expected.mean() < 1
        np.testing.assert_array_equal(got[:, n], expected)


@pytest.mark.parametrize("graded", [False, True])
def test_conv_model_equals_lava_stock_conv(graded):
    """The project Conv (fast model) against lava.proc.conv's stock fixed-point
    Conv on the same layer: weight_exp 0, no bias, stride 2, groups 2."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.conv.process import Conv as StockConv

    from lava_msf.runtime.proc.conv.process import Conv
    from lava_msf.runtime.proc.frame_source.process import FrameSource
    from lava_procs.recorder.process import Recorder

    rng = np.random.default_rng(11)
    steps, shape = 4, (9, 8, 6)
    frames = rng.integers(0, 256, (steps, *shape)) if graded else (rng.random((steps, *shape)) < 0.3)
    weight = rng.integers(-128, 128, (8, 3, 3, 3)) * 2
    kw = {"weight": weight, "input_shape": shape, "stride": 2, "padding": 1, "groups": 2,
          "num_message_bits": 8 if graded else 0}
    source = FrameSource(frames=frames.astype(np.int32), graded=graded)
    convs = [StockConv(**kw), Conv(**kw)]  # ours: a batch of one, (1, W, H, C)
    recs = [Recorder(shape=conv.a_out.shape, steps=steps) for conv in convs]
    source.s_out.connect(convs[0].s_in)
    source.s_out.reshape(convs[1].s_in.shape).connect(convs[1].s_in)
    for conv, rec in zip(convs, recs):
        conv.a_out.connect(rec.a_in)
    try:
        source.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        stock, ours = (rec.record.get() for rec in recs)
    finally:
        source.stop()
    assert np.abs(stock).max() > 0
    np.testing.assert_array_equal(ours.reshape(stock.shape), stock)


def test_float_backend_equals_reference_where_no_rounding_occurs():
    """lava-cpu-float is the same network in real arithmetic. With no voltage
    decay and no right shifts nothing rounds, so it must equal the integers."""
    rng = np.random.default_rng(5)
    plain = fx.LifParams(vth_mant=64, v_decay=0)
    q, k, v = (Layer(n, "conv", (8, 6, 6), (0,), neuron=plain, weight=rng.integers(-20, 60, (8, 2, 3, 3)) * 2,
                     bias=rng.integers(-5, 5, 8), attrs={"padding": 1}) for n in "qkv")
    layers = [Layer("in", "input", (2, 6, 6)), q, k, v,
              Layer("sdsa", "sdsa", (8, 6, 6), (1, 2, 3), neuron=fx.LifParams(vth_mant=64, v_decay=0),
                    attrs={"variant": "v2", "heads": 2, "scale": 4}),
              _spiking_conv("proj", 4, 8, 4, rng, neuron=False, bias=True, exp=1)]
    net = Network(layers, timesteps=4).validate()
    frames = (rng.random((2, 2, 6, 6, 4)) < 0.4).astype(np.int64)
    probes = {}
    ref = Executor(net).run(frames, probes)
    with LavaRunner(net, "lava-cpu-float", batch_samples=2) as runner:
        out, _ = runner.run(frames)
    assert 0 < np.stack(probes["sdsa"]).mean() < 1
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, ref.astype(np.float64))


def test_bad_input_is_a_typed_error_and_the_runtime_is_stopped():
    net = export_network(warmed_model("msf_micro", timesteps=2))
    frames = digits_frames(net, 1)
    with pytest.raises(ShapeError, match="input frames must be"):
        with LavaRunner(net, batch_samples=1) as runner:
            runner.run(frames)  # starts the runtime
            runner.run(frames[..., :1])
    assert_no_children()


def test_a_failing_process_model_stops_the_runtime(monkeypatch):
    import lava_msf.runtime.proc.sdsa.models as sdsa_models

    def broken(*args):
        raise FloatingPointError("injected failure")

    monkeypatch.setattr(sdsa_models, "sdsa_step", broken)  # the forked process models inherit it
    net = export_network(warmed_model("msf_micro", timesteps=2))
    with pytest.raises(LavaRunError, match="process model failed: FloatingPointError: injected failure"):
        with LavaRunner(net, batch_samples=1) as runner:
            runner.run(digits_frames(net, 1))
    assert_no_children()


def test_unmappable_neuron_is_refused_before_building_naming_the_layer():
    layers = [Layer("in", "input", (1, 2, 2)),
              Layer("big-bias", "conv", (2, 2, 2), (0,), neuron=fx.LifParams(), weight=np.full((2, 1, 1, 1), 2),
                    bias=np.array([5000, 0]))]
    with pytest.raises(GraphError, match=r"layer 1 \(big-bias\).*13-bit"):
        LavaRunner(Network(layers, timesteps=2))  # the one neuron check of validation (as read_net's)
    assert_no_children()


def test_probing_the_output_layer_and_a_layer_twice_over_more_steps_than_a_pipe_buffers():
    """A probe on the output layer, or a layer named twice, shares the layer's
    one sink: a second sink nobody reads fills its pipe after PIPE_FRAMES steps
    and stalls the graph. Run in a child with a time limit, so a stall fails."""
    import subprocess
    import sys
    from pathlib import Path

    script = """
import dataclasses, sys
import numpy as np
sys.path.insert(0, {tests!r})
from small_nets import assert_backend_equals_reference, small_net
from lava_msf.runtime.builder import PIPE_FRAMES
net = small_net()
net = dataclasses.replace(net, timesteps=PIPE_FRAMES // 2 + 8)  # one batch is over PIPE_FRAMES Lava steps
frames = (np.random.default_rng(0).random((1, *net.layers[0].shape, net.timesteps)) < 0.5).astype(np.int64)
names = [layer.name for layer in net.layers]
for backend in ("lava-cpu", "lava-cpu-fused"):
    assert_backend_equals_reference(net, backend, frames, [*names[1:], names[1]])
print("equal")
""".format(tests=str(Path(__file__).parent))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("equal")


def test_a_network_without_time_steps_is_refused_for_batches():
    import dataclasses

    from small_nets import small_net

    from lava_msf.errors import ConfigError

    with pytest.raises(ConfigError, match=r"no time steps per sample \(T = 0\)"):
        LavaRunner(dataclasses.replace(small_net(), timesteps=0), "lava-cpu")
    assert_no_children()
