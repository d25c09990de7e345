"""Synaptic delays (every form NetX accepts), dense_rec and average: the
reference against hand computations, the Lava backends against the reference,
stock NetX against lava-msf layer by layer, inspect/report counts, bad keys."""

import warnings

import h5py
import numpy as np
import pytest

from lava_msf import fixedpoint as fx
from lava_msf.chip.loihi2 import LOIHI2
from lava_msf.chip.report import inspect_network
from lava_msf.errors import LavaMsfWarning, NetFileError
from lava_msf.graph import Layer, Network
from lava_msf.layers import spec
from lava_msf.netfile import read_net, write_net
from lava_msf.reference import Executor

from small_nets import put_key

T = 12
LIF = fx.LifParams(vth_mant=40, i_decay=2048, v_decay=1024)


def w(rng, *shape, lo=-40, hi=60):
    return rng.integers(lo, hi, shape) * 2


def spikes(rng, shape, n=2, p=0.4):
    return (rng.random((n, *shape, T)) < p).astype(np.int64)


def dense_chain():
    """NetX's sequential dense forms: per-input, full-matrix, scalar and per-output
    delays, a recurrent layer, an average readout (weight exponent 0: NetX reads none)."""
    rng = np.random.default_rng(3)
    layers = [
        Layer("in", "input", (2, 3, 3)),
        Layer("d_in", "dense", (8, 1, 1), (0,), neuron=LIF, weight=w(rng, 8, 18), delay=rng.integers(0, 5, 18)),
        Layer("d_full", "dense", (6, 1, 1), (1,), neuron=LIF, weight=w(rng, 6, 8), delay=rng.integers(0, 4, (6, 8))),
        Layer("d_one", "dense", (6, 1, 1), (2,), neuron=LIF, weight=w(rng, 6, 6), delay=np.array(2)),
        Layer("rec", "dense_rec", (5, 1, 1), (3,), neuron=LIF, weight=w(rng, 5, 6),
              attrs={"weight_rec": w(rng, 5, 5, lo=-50, hi=30)}),
        Layer("d_out", "dense", (4, 1, 1), (4,), neuron=LIF, weight=w(rng, 4, 5, lo=-10), delay=np.array([0, 3, 1, 6])),
        Layer("avg", "average", (2, 1, 1), (5,)),
    ]
    return Network(layers, timesteps=T, meta={"input": "frames"}).validate()


def conv_chain():
    """Conv delays per output channel, per input channel (grouped), per tap; one current output."""
    rng = np.random.default_rng(4)
    layers = [
        Layer("in", "input", (2, 5, 5)),
        Layer("c_out", "conv", (4, 5, 5), (0,), neuron=LIF, weight=w(rng, 4, 2, 3, 3), attrs={"padding": 1},
              delay=np.array([0, 2, 5, 1])),
        Layer("c_in", "conv", (4, 5, 5), (1,), neuron=LIF, weight=w(rng, 4, 2, 3, 3),
              attrs={"padding": 1, "groups": 2}, delay=np.array([3, 0, 1, 2])),
        Layer("c_tap", "conv", (3, 3, 3), (2,), weight=w(rng, 3, 4, 3, 3), weight_exp=-2,
              delay=rng.integers(0, 3, (3, 4, 3, 3))),
    ]
    return Network(layers, timesteps=T, meta={"input": "frames"}).validate()


def probe_run(net, frames, backend=None):
    probes = {}
    out = Executor(net).run(frames, probes)
    return out, {k: np.stack(v, axis=-1) for k, v in probes.items()}


# --- the reference against hand computations -------------------------------------------------------

def hand_delayed_dense(weight, delay, x, shift):
    """a[o](t) = sum_d shift(sum_{j: D[o,j]=d} W[o,j] x[j](t - d)): Lava's DelayDense, one loop per synapse."""
    n_out, n_in = weight.shape
    if delay.shape == (n_out,):
        delay = np.repeat(delay[:, None], n_in, axis=1)
    delay = np.broadcast_to(delay, weight.shape)  # one value, per input (n_in,) or the full matrix
    a = np.zeros((n_out, x.shape[-1]), dtype=np.int64)
    for t in range(x.shape[-1]):
        for o in range(n_out):
            for d in np.unique(delay[o]):
                if t - d >= 0:
                    a[o, t] += fx.shift(sum(int(weight[o, j]) * int(x[j, t - d]) for j in range(n_in)
                                            if delay[o, j] == d), shift)
    return a


@pytest.mark.parametrize("form", ["scalar", "per_output", "per_input", "full"])
def test_delayed_dense_current_equals_hand_sum(form):
    rng = np.random.default_rng(7)
    n_out, n_in = 3, 5
    delay = {"scalar": np.array(3), "per_output": np.array([0, 4, 2]), "per_input": np.array([1, 0, 3, 3, 2]),
             "full": rng.integers(0, 4, (n_out, n_in))}[form]
    weight = w(rng, n_out, n_in, lo=-100, hi=100)
    net = Network([Layer("in", "input", (1, 1, n_in)),
                   Layer("fc", "dense", (n_out, 1, 1), (0,), weight=weight, weight_exp=-3, delay=delay)],
                  timesteps=T).validate()
    x = spikes(rng, (1, 1, n_in), n=1, p=0.6)
    out = Executor(net).run(x)[0].reshape(n_out, T)
    expect = hand_delayed_dense(weight, delay, x[0].reshape(n_in, T), -3)
    assert (expect != 0).any() and out.any()
    np.testing.assert_array_equal(out, expect)


def test_conv_delays_equal_the_undelayed_conv_per_delay_class():
    """Per output channel: the undelayed conv's channel c, d_c steps later; per tap: each delay class's
    masked conv, shifted on its own (the undelayed layers as the independent path)."""
    net = conv_chain()
    frames = spikes(np.random.default_rng(5), (2, 5, 5))
    _, got = probe_run(net, frames)
    assert all(got[layer.name].any() for layer in net.layers[1:])

    def undelayed(i, weight, src_values):
        layer = net.layers[i]
        plain = Network([Layer("in", "input", net.layers[layer.inputs[0]].shape),
                         Layer("c", "conv", layer.shape, (0,), weight=weight, weight_exp=layer.weight_exp,
                               attrs=dict(layer.attrs))], timesteps=T).validate()
        return Executor(plain).run(src_values)

    layer = net.layers[3]
    expect = np.zeros_like(got["c_tap"])
    for d in np.unique(layer.delay):
        part = undelayed(3, np.where(layer.delay == d, layer.weight, 0), got["c_in"])
        expect[..., d:] += part[..., :T - d]
    np.testing.assert_array_equal(got["c_tap"], fx.saturate_synapse(expect))
    # c_out: without its neuron, channel c is the undelayed conv delayed by d_c
    twin = Network([net.layers[0], Layer("c", "conv", (4, 5, 5), (0,), weight=net.layers[1].weight,
                                         attrs={"padding": 1}, delay=net.layers[1].delay)], timesteps=T).validate()
    delayed = Executor(twin).run(frames)
    plain = undelayed(1, net.layers[1].weight, frames)
    for c, d in enumerate(net.layers[1].delay):
        np.testing.assert_array_equal(delayed[:, c, ..., d:], plain[:, c, ..., :T - d])
        assert not delayed[:, c, ..., :d].any()


def test_pending_delayed_sums_do_not_cross_samples():
    net = dense_chain()
    frames = spikes(np.random.default_rng(1), (2, 3, 3), n=3)
    together = Executor(net).run(frames)
    alone = np.concatenate([Executor(net).run(frames[k:k + 1]) for k in range(3)])
    np.testing.assert_array_equal(together, alone)


def test_dense_rec_equals_hand_recurrence():
    net = dense_chain()
    frames = spikes(np.random.default_rng(2), (2, 3, 3), n=1)
    _, got = probe_run(net, frames)
    rec = net.layers[4]
    x = got["d_one"][0].reshape(6, T)
    u = v = np.zeros(5, dtype=np.int64)
    s = np.zeros(5, dtype=np.int64)
    expect = []
    for t in range(T):
        a = rec.weight @ x[:, t] + rec.attrs["weight_rec"] @ s  # both synapses deliver one step later
        u, v = fx.lif_update(u, v, a, LIF, 0)
        fired, v = fx.lif_fire(v, LIF)
        s = fired.astype(np.int64)
        expect.append(s)
    expect = np.stack(expect, axis=-1)
    without = Executor(Network(net.layers[:4] + [Layer("plain", "dense", (5, 1, 1), (3,), neuron=LIF,
                                                       weight=rec.weight)], T).validate()).run(frames)
    assert expect.any() and not np.array_equal(without[0].reshape(5, T), expect)  # the recurrence acts
    np.testing.assert_array_equal(got["rec"][0].reshape(5, T), expect)


def test_average_is_the_spike_count_of_each_group():
    net = dense_chain()
    frames = spikes(np.random.default_rng(6), (2, 3, 3), n=2)
    out, got = probe_run(net, frames)
    src = got["d_out"].reshape(2, 2, 2, T)  # 4 neurons, 2 groups of 2 consecutive ones
    assert src.any()
    np.testing.assert_array_equal(out.reshape(2, 2, T), src.sum(axis=2))
    assert net.layers[-1].value_shift == 0 and not net.layers[-1].spiking


@pytest.mark.parametrize("make", [dense_chain, conv_chain])
def test_torch_backend_equals_numpy(make):
    import torch

    from lava_msf.export.torch_backend import TorchBackend

    net = make()
    frames = spikes(np.random.default_rng(11), net.layers[0].shape, n=3)
    ref = Executor(net).run(frames)
    assert ref.any()
    np.testing.assert_array_equal(Executor(net, TorchBackend).run(torch.from_numpy(frames)).numpy(), ref)


# --- Lava backends ------------------------------------------------------------------------------------

def test_float_backend_refuses_stateful_layers_in_one_line():
    from lava_msf.runtime import LavaRunner
    from lava_msf.runtime.builder import BuildError

    with pytest.raises(BuildError, match=r"^layer 1 \(d_in\): a dense layer with state of its own runs on the "
                                         r"fixed-point backends only$"):
        LavaRunner(dense_chain(), "lava-cpu-float", batch_samples=1)


@pytest.mark.parametrize("make", [dense_chain, conv_chain])
def test_lava_cpu_and_fused_equal_the_reference(make):
    from lava_msf.runtime import LavaRunner

    net = make()
    frames = spikes(np.random.default_rng(8), net.layers[0].shape, n=3)
    ref, probes = probe_run(net, frames)
    names = [layer.name for layer in net.layers[1:-1]]
    with LavaRunner(net, "lava-cpu", batch_samples=2, probes=names) as runner:  # two batches, back to back
        out, got = runner.run(frames)
    assert ref.any()
    np.testing.assert_array_equal(out, ref)
    for name in names:
        np.testing.assert_array_equal(got[name], probes[name], err_msg=name)
    with LavaRunner(net, "lava-cpu-fused", batch_samples=3) as runner:
        np.testing.assert_array_equal(runner.run(frames)[0], ref)


def strided_chain():
    """A non-square, strided, dilated, grouped conv with per-tap delays into a
    per-output delayed dense layer whose current is the output."""
    rng = np.random.default_rng(6)
    layers = [
        Layer("in", "input", (2, 7, 6)),
        Layer("c", "conv", (4, 4, 4), (0,), neuron=fx.LifParams(vth_mant=20), weight=w(rng, 4, 1, 3, 2, lo=-10),
              attrs={"stride": (2, 1), "padding": (1, 0), "groups": 2, "dilation": (1, 2)},
              delay=rng.integers(0, 4, (4, 1, 3, 2))),
        Layer("d", "dense", (3, 1, 1), (1,), weight=w(rng, 3, 64, lo=-50, hi=50), weight_exp=-1,
              delay=np.array([2, 0, 5])),
    ]
    return Network(layers, timesteps=T, meta={"input": "frames"}).validate()


@pytest.mark.parametrize("make", [dense_chain, conv_chain, strided_chain])
def test_decomposed_stock_processes_equal_the_reference_on_a_stream(make):
    """Stock DelaySparse (every conv or dense synapse with its delay, one step longer) into the layer's LIF,
    dense_rec's two Dense into a LIF, a Dense of ones: exact over one unreset stream."""
    from lava_msf.runtime.stream import StreamRunner

    net = make()
    frames = spikes(np.random.default_rng(9), net.layers[0].shape, n=1)[0]
    ref = Executor(net).run(frames[None])[0]
    outs = []
    with StreamRunner(net, "lava-cpu-decomposed", reset_interval=None, segment=T) as runner:
        for t in range(T):
            outs += runner.step(frames[..., t])
        outs += runner.drain()
    assert ref.any() and (make is not strided_chain or ref.min() < 0 < ref.max())  # mixed signs: the current
    np.testing.assert_array_equal(np.stack(outs, axis=-1), ref)


def dense_forms():
    """dense_chain's delayed layers without its recurrent one (which the decomposed backends build for
    unreset streams only)."""
    return Network(dense_chain().layers[:4], timesteps=T, meta={"input": "frames"}).validate()


@pytest.mark.parametrize("make", [conv_chain, strided_chain])  # per output, input channel and tap; per output
def test_decomposed_delays_with_per_sample_resets_equal_the_reference(make):
    """Samples back to back, each reset: the stock gates drop the sums due in the next sample, so
    every layer is the reference's bit for bit (without the gates they differ: checked by hand)."""
    from lava_msf.runtime import LavaRunner

    net = make()
    frames = spikes(np.random.default_rng(8), net.layers[0].shape, n=2, p=0.6)
    ref, probes = probe_run(net, frames)
    names = [layer.name for layer in net.layers[1:-1]]
    with LavaRunner(net, "lava-cpu-decomposed", batch_samples=1, probes=names) as runner:  # two batches
        out, got = runner.run(frames)
    assert ref.any()
    np.testing.assert_array_equal(out, ref)
    for name in names:
        np.testing.assert_array_equal(got[name], probes[name], err_msg=name)


@pytest.mark.parametrize("steps", [3, 70])
def test_decomposed_delays_with_short_and_long_samples(steps):
    """Samples of 3 steps (dense_forms, delays up to 4: some sums always fall into the next sample) and
    of 70 (strided_chain: the gates shut up to 68 steps after a sample starts, past a stock synapse's
    62-step delay) on graded input (pixels: the gates pass values too)."""
    from lava_msf.runtime import LavaRunner

    rng = np.random.default_rng(3)
    if steps == 3:
        net = Network(dense_forms().layers, timesteps=steps, meta={"input": "frames"}).validate()
        frames = (rng.random((2, 2, 3, 3, steps)) < 0.6).astype(np.int64)
    else:
        net = Network([Layer("in", "input", (2, 7, 6), attrs={"value_shift": 8}), *strided_chain().layers[1:]],
                      timesteps=steps, meta={"input": "image"}).validate()
        frames = rng.integers(0, 256, (2, 2, 7, 6, steps))
    ref = Executor(net).run(frames)
    with LavaRunner(net, "lava-cpu-decomposed", batch_samples=1) as runner:
        out = runner.run(frames)[0]
    assert ref.any() and (steps == 3 or ref.min() < 0 < ref.max())
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("make", [dense_forms, conv_chain, strided_chain])
def test_inspect_counts_the_decomposed_gates_as_built(make):
    """inspect's neurons and synapses of a delayed layer: its own plus its gate's, as the decomposed
    backend builds them (processes counted, not run)."""
    from lava_msf.runtime.backends import get_backend
    from lava_msf.runtime.builder import build

    net = make()
    rows = inspect_network(net, LOIHI2)["layers"]
    built = build(net, get_backend("lava-cpu-decomposed"), 1).processes
    for i, layer in enumerate(net.layers):
        if layer.delay is None:
            continue
        mine = {n.split("/", 1)[1]: p for n, p in built.items() if n.startswith(f"{i}:{layer.name}/")}
        neurons = sum(int(np.prod(mine[k].s_out.shape)) for k in ("gated", "gate", "clock") if k in mine)
        synapses = sum(mine[k].weights.init.nnz for k in ("copy", "open", "tick", "shut") if k in mine)
        assert neurons == rows[i]["gate_neurons"] > 0
        plain = layer.size if layer.neuron is not None else 0
        assert (rows[i]["neurons"], rows[i]["synapses"]) == (plain + neurons, spec(layer).counts(
            layer, net.layers[layer.inputs[0]])[0] + synapses), layer.name
    assert net.latencies(decomposed=True)[1] == 2 and net.latencies()[1] == 1


def _with_dense(weight, weight_exp=-1, bias=None, shape=(2, 7, 6)):
    """strided_chain's input and a delayed dense layer reading it, current out."""
    return lambda: Network([Layer("in", "input", shape), Layer("d", "dense", (3, 1, 1), (0,), weight=weight,
                                                                weight_exp=weight_exp, bias=bias,
                                                                delay=np.array([2, 0, 5]))], timesteps=T).validate()


@pytest.mark.parametrize("make,words", [
    (_with_dense(np.full((3, 84), 2), bias=np.arange(3)), "layer 1 (d): key 'bias': Lava's stock DelaySparse adds "
                                                          "no bias"),
    (_with_dense(np.full((3, 84), 3) * np.array([[1], [-1], [1]])), "layer 1 (d): key 'weight': Lava's stock "
                                                                    "DelaySparse keeps mixed-sign weights even"),
    (_with_dense(np.full((3, 512), 254), 7, shape=(2, 16, 16)), "layer 1 (d): key 'delay': its sum may reach"),
])
def test_decomposed_refuses_what_stock_delay_synapses_cannot_compute_in_one_line(make, words):
    from lava_msf.runtime.builder import BuildError
    from lava_msf.runtime.stream import StreamRunner

    with pytest.raises(BuildError) as e:
        StreamRunner(make(), "lava-cpu-decomposed", reset_interval=None, segment=T)
    assert str(e.value).startswith(words) and "\n" not in str(e.value), str(e.value)


# --- stock NetX, layer by layer -----------------------------------------------------------------------

def test_stock_netx_equals_lava_msf_per_layer(tmp_path):
    """lava-msf's file of the dense chain runs in stock NetX (all but the average, which NetX does not
    build): each block's spikes are the reference's, one step later per hop."""
    from netx_stock import run_stock

    net = dense_chain()
    path = tmp_path / "chain.net"
    write_net(net, path)
    frames = spikes(np.random.default_rng(10), (2, 3, 3), n=1)[0]
    with h5py.File(path) as f:
        n_groups = len(f["layer"]) - 1  # everything before the average
    run = run_stock(path, frames, num_layers=n_groups)
    assert run.blocks == ["Dense", "Dense", "Dense", "RecurrentDense", "Dense"]
    _, probes = probe_run(net, frames[None])
    for hop, (layer, stock) in enumerate(zip(net.layers[1:6], run.outputs), start=1):
        ref = probes[layer.name][0]
        assert ref[..., :T - hop].any(), layer.name
        np.testing.assert_array_equal(stock[..., hop:], ref[..., :T - hop], err_msg=layer.name)


# --- file, inspect, report ------------------------------------------------------------------------------

def test_round_trip_keeps_every_form(tmp_path):
    for make in (dense_chain, conv_chain):
        net = make()
        write_net(net, tmp_path / "a.net")
        back = read_net(tmp_path / "a.net")
        for a, b in zip(net.layers, back.layers):
            assert (a.delay is None) == (b.delay is None) and (a.delay is None or np.array_equal(a.delay, b.delay))
            assert a.type == b.type
            if a.type == "dense_rec":
                np.testing.assert_array_equal(b.attrs["weight_rec"], a.attrs["weight_rec"])
        frames = spikes(np.random.default_rng(0), net.layers[0].shape, n=1)
        np.testing.assert_array_equal(Executor(back).run(frames), Executor(net).run(frames))


def test_inspect_and_report_count_delays_recurrence_and_average():
    from lava_msf.analysis.energy import layer_flops

    net = dense_chain()
    rows = {r["name"]: r for r in inspect_network(net, LOIHI2)["layers"]}
    assert rows["d_in"]["delay_bits"] == 3 and rows["d_one"]["delay_bits"] == 2 and rows["d_out"]["delay_bits"] == 3
    assert "delay_bits" not in rows["rec"]
    assert rows["rec"]["recurrent_synapses"] == 25 and rows["rec"]["synapses"] == 5 * 6 + 25
    assert rows["rec"]["fan_in"] == 6 + 5
    assert rows["avg"]["synapses"] == 4 and rows["avg"]["fan_in"] == 2 and rows["avg"]["current_bound"] == 2
    assert layer_flops(net, 4) == 5 * 6 + 25 and layer_flops(net, 6) == 4
    assert spec("average").operator


# --- bad keys -------------------------------------------------------------------------------------------

def _with_key(tmp_path, group: int, key: str, value):
    path = tmp_path / "bad.net"
    write_net(dense_chain(), path)
    with h5py.File(path, "r+") as f:
        put_key(f[f"layer/{group}"], key, value)
    return path


# file groups: 0 input, 1 flatten, d_in 2, d_full 3, d_one 4, rec 5, d_out 6, avg 7;
# keys are read naming the group, shapes are checked naming the graph's layer
@pytest.mark.parametrize("group, key, value, words", [
    (2, "delay", np.zeros(7), ["layer 1 (d_in)", "key 'delay' of shape (7,) fits none"]),
    (2, "delay", np.array([1, -1] * 9), ["layer 2", "key 'delay' has negative values"]),
    (2, "delay", np.full(18, 1.5), ["layer 2", "key 'delay' must hold integers"]),
    (5, "delay", np.zeros(5), ["layer 5", "unexpected key 'delay' for a dense_rec layer"]),
    (5, "weight_rec", np.zeros((5, 4)), ["layer 5", "key 'weight_rec' must be (5, 5)"]),
    (7, "shape", np.array([3, 1, 1]), ["layer 6 (avg)", "output (C, 1, 1) with C dividing"]),
])
def test_bad_keys_are_one_line_errors_naming_file_layer_and_key(tmp_path, group, key, value, words):
    path = _with_key(tmp_path, group, key, value)
    with pytest.raises(NetFileError) as e:
        read_net(path)
    message = str(e.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    for word in words:
        assert word in message


def test_delays_over_62_are_clamped_with_one_warning_line(tmp_path, capsys):
    from lava_msf.cli import main

    path = _with_key(tmp_path, 2, "delay", np.array([70] + [1] * 17))
    with pytest.warns(LavaMsfWarning, match=r"layer 2: key 'delay' up to 70 clamped to 62"):
        net = read_net(path)
    assert int(net.layers[1].delay.max()) == 62
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert main(["inspect", str(path)]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lava-msf: warning: ") and "clamped to 62" in err[0]
