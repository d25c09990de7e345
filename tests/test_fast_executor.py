"""The layer-major executor (Executor.run / advance) and the event-driven
kernels against the readable per-step executor (Executor.step), bit for bit,
on every layer type and neuron model."""

import numpy as np
import pytest

import fuzz_cases
import small_nets
import test_delay_rec_average as stateful
import test_layer_types_dense_prediction as dense_prediction
import test_neurons_rf as rf_nets
from lava_msf import fixedpoint as fx
from lava_msf import intconv
from lava_msf.graph import Layer, Network
from lava_msf.layers import spec
from lava_msf.neurons import lif
from lava_msf.reference import Executor, NumpyBackend


def v1_net():
    """The two V1 SDSA forms on Q, K, V of their own, then a dense readout."""
    rng = np.random.default_rng(5)
    w = lambda *s: rng.integers(-60, 60, s) * 2  # noqa: E731
    layers = [Layer("input", "input", (4, 3, 3))]
    for name in "qkv":
        layers.append(Layer(name, "conv", (4, 3, 3), (0,), neuron=fx.LifParams(), weight=w(4, 4, 1, 1)))
    layers += [Layer("kv", "sdsa", (4, 3, 3), (1, 2, 3), neuron=fx.LifParams(vth_mant=16),
                     attrs={"variant": "v1_kv", "heads": 2, "scale": 8}),
               Layer("qk", "sdsa", (4, 3, 3), (4, 2, 3), neuron=fx.LifParams(vth_mant=8),
                     attrs={"variant": "v1_qk", "heads": 2, "scale": 8}),
               Layer("fc", "dense", (3, 1, 1), (5,), weight=w(3, 36))]
    return Network(layers, timesteps=5, meta={"input": "frames"}).validate()


NETS = {
    "small (conv, depthwise, neuron, sdsa v2, dense)": small_nets.small_net,
    "dvs (strided conv, merge, mean)": fuzz_cases.dvs_net,
    "lif (input neuron, delays, dense_rec, average)": fuzz_cases.lif_net,
    "sdnn (sigma-delta)": fuzz_cases.sdnn_net,
    "dense prediction (pool, convT, unpool, concat)": fuzz_cases.dense_prediction_net,
    "synapses (pool, convT, unpool geometry)": dense_prediction.synapse_net,
    "fpn": dense_prediction.fpn_net,
    "dense chain (delays, dense_rec)": stateful.dense_chain,
    "conv chain (conv delays)": stateful.conv_chain,
    "rf (dense_complex)": lambda: rf_nets.rf_net(np.random.default_rng(0), 6, conv=True),
    "sdsa v1_kv, v1_qk": v1_net,
}


def inputs(net, batch=3, steps=None, seed=0):
    first = net.layers[0]
    steps = steps or net.timesteps
    return np.concatenate([fuzz_cases.frames(first.shape, spec(first).graded_frames(first), steps, seed + k)
                           for k in range(batch)]).astype(np.int64)


def per_step(net, frames, probes):
    ex = Executor(net)
    ex.reset(len(frames))
    return np.stack([ex.step(frames[..., t], probes) for t in range(frames.shape[-1])], axis=-1)


@pytest.mark.parametrize("mode", ["event", "dense", "auto"])
@pytest.mark.parametrize("name", list(NETS))
def test_layer_major_run_and_advance_equal_steps(name, mode, monkeypatch):
    net = NETS[name]()
    frames = inputs(net)
    monkeypatch.setattr(intconv, "MODE", "dense")  # the per-step reference on today's dense kernels
    probes = {}
    ref = per_step(net, frames, probes)
    monkeypatch.setattr(intconv, "MODE", mode)
    ex = Executor(net)
    fast_probes = {}
    out = ex.run(frames, fast_probes)
    np.testing.assert_array_equal(out, ref)
    assert list(fast_probes) == list(probes)
    for layer in probes:
        np.testing.assert_array_equal(np.stack(fast_probes[layer]), np.stack(probes[layer]), err_msg=layer)
    # advance continues the state: windows of 1 and T - 1 steps make the same run
    ex.reset(len(frames))
    split = np.concatenate([ex.advance(frames[..., :1]), ex.advance(frames[..., 1:])], axis=-1)
    np.testing.assert_array_equal(split, ref)
    assert any(np.stack(v).any() for v in probes.values())


def saturating_net(exp: int):
    """Graded input (value shift 2) -> conv + bias -> conv + LIF (+ voltage bias)
    -> depthwise conv, weights exponent `exp`: products past the 24-bit
    synapse, in int32 and int64 accumulators."""
    rng = np.random.default_rng(7)
    layers = [Layer("input", "input", (3, 6, 5), attrs={"value_shift": 2}),
              Layer("a", "conv", (4, 6, 5), (0,), weight=rng.integers(-128, 128, (4, 3, 3, 3)) * 2,
                    bias=rng.integers(-1 << 20, 1 << 20, 4), attrs={"padding": 1}),
              Layer("b", "conv", (4, 3, 5), (1,), neuron=fx.LifParams(vth_mant=900, v_decay=300),
                    weight=rng.integers(-128, 128, (4, 4, 3, 1)) * 2, bias=rng.integers(-4000, 4000, 4),
                    attrs={"stride": (2, 1), "padding": (1, 0)}),
              Layer("c", "conv", (4, 3, 5), (2,), weight=rng.integers(-128, 128, (4, 1, 3, 3)) * 2,
                    attrs={"padding": 1, "groups": 4})]
    for layer in layers[1:]:
        layer.weight_exp = exp
    return Network(layers, timesteps=5, meta={"input": "frames"}).validate()


@pytest.mark.parametrize("mode", ["event", "dense", "auto"])
@pytest.mark.parametrize("exp", [-6, 7])
def test_fused_synapse_saturates_and_shifts_as_the_steps(exp, mode, monkeypatch):
    """The fast path's fused product, shift, bias, saturation and LIF against the readable per-step executor."""
    net = saturating_net(exp)
    rng = np.random.default_rng(exp + 10)
    frames = rng.integers(-(1 << 21), 1 << 21, (2, 3, 6, 5, 5)) * (rng.random((2, 3, 6, 5, 5)) < 0.4)
    frames[1] //= 1 << 14  # small values: int32 accumulators
    monkeypatch.setattr(intconv, "MODE", "dense")
    probes = {}
    ref = per_step(net, frames, probes)
    monkeypatch.setattr(intconv, "MODE", mode)
    fast = {}
    np.testing.assert_array_equal(Executor(net).run(frames, fast), ref)
    for layer in probes:
        np.testing.assert_array_equal(np.stack(fast[layer]), np.stack(probes[layer]), err_msg=layer)
    a = np.stack(probes["a"])
    saturated = ((a == fx.SYNAPSE_MAX) | (a == fx.SYNAPSE_MIN)).mean()
    assert 0 < saturated < 1 if exp > 0 else saturated == 0 and (a < 0).any()  # each case is exercised
    assert 0 < np.stack(probes["b"]).mean() < 1


@pytest.mark.parametrize("steps", [1, 7])
def test_lif_window_equals_its_step(steps):
    rng = np.random.default_rng(1)
    for p in (fx.LifParams(), fx.LifParams(vth_mant=3, i_decay=1, v_decay=4096), fx.LifParams(i_decay=700)):
        shape = (2, 3, 4, 5)
        # currents around the 24-bit wrap and clip, and small ones
        a = rng.integers(-1 << 18, 1 << 18, (shape[0] * steps, *shape[1:]))
        a[::3] //= 1 << 12
        bias = rng.integers(-4000, 4000, (1, 3, 1, 1)) << 6
        state = (rng.integers(-1 << 22, 1 << 22, shape), rng.integers(-1 << 22, 1 << 22, shape))
        spikes, (u, v) = lif.MODEL.window(tuple(z.copy() for z in state), a, steps, p, bias)
        want, s = [], state
        for t in range(steps):
            out, s = lif.MODEL.step(s, a[t * shape[0]:(t + 1) * shape[0]], p, bias, NumpyBackend)
            want.append(out)
        np.testing.assert_array_equal(spikes, np.concatenate(want))
        np.testing.assert_array_equal(u, s[0])
        np.testing.assert_array_equal(v, s[1])
        assert 0 < spikes.sum() < spikes.size


@pytest.mark.parametrize("geometry", [dict(stride=1, padding=1, groups=1), dict(stride=(2, 1), padding=(1, 0)),
                                      dict(stride=2, padding=3, groups=4, dilation=(1, 2)),
                                      dict(stride=1, padding=2, groups=8)])
def test_event_driven_conv_equals_dense_on_graded_and_large_values(geometry):
    rng = np.random.default_rng(2)
    groups = geometry.get("groups", 1)
    w = rng.integers(-256, 255, (8, 8 // groups, 5, 3))
    conv = intconv.Conv2d(w, **geometry)
    for x in ((rng.random((3, 8, 9, 7)) < 0.2).astype(np.int64), rng.integers(-255, 256, (2, 8, 9, 7)),
              rng.integers(-1 << 20, 1 << 20, (2, 8, 9, 7))):  # the last: int64 accumulators
        np.testing.assert_array_equal(conv.scatter(x, intconv.abs_max(x)),
                                      np.rint(conv.real(x)).astype(np.int64))


def test_event_driven_results_outlive_the_next_call(monkeypatch):
    """The event-driven accumulator is reused across calls; what a call returns is not."""
    monkeypatch.setattr(intconv, "MODE", "event")
    rng = np.random.default_rng(4)
    conv = intconv.Conv2d(rng.integers(-256, 255, (4, 3, 3, 3)), padding=1)
    for scale in (1, 1 << 22):  # int32 and int64 accumulators
        x = rng.integers(-3, 4, (2, 3, 5, 5)) * scale
        first = conv(x)
        kept = first.copy()
        conv(x[::-1].copy())
        np.testing.assert_array_equal(first, kept)
        np.testing.assert_array_equal(first, np.rint(conv.real(x)).astype(np.int64))
    silent = conv(np.zeros((2, 3, 5, 5), dtype=np.int64))  # the kept zeros of a silent input, as a copy
    silent += 1
    np.testing.assert_array_equal(conv(np.zeros((2, 3, 5, 5), dtype=np.int64)), 0)


def test_event_driven_linear_equals_dense(monkeypatch):
    rng = np.random.default_rng(3)
    w = rng.integers(-256, 255, (7, 40))
    lin = intconv.Linear(w)
    x = rng.integers(-3, 4, (5, 40)) * (rng.random((5, 40)) < 0.3)
    monkeypatch.setattr(intconv, "MODE", "dense")
    dense = lin(x)
    monkeypatch.setattr(intconv, "MODE", "event")
    np.testing.assert_array_equal(lin(x), dense)
    np.testing.assert_array_equal(dense, x @ w.T)
