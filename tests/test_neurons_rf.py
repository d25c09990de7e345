"""Resonate-and-fire neurons behind complex dense layers (lava_msf.neurons.rf,
lava_msf.layers.dense_complex), bit-exact with Lava: the model against Lava's
stock fixed-point RF and RF_IZ (spikes, real and imaginary state per step,
saturation included) and NetX's float round trip of the decays; small NetX
files against stock NetX block by block (its RF neurons' states too) and
through lava-msf's writer; every Lava backend against the reference; one-line
errors for every key refused."""

import h5py
import numpy as np
import pytest

from lava_msf import fixedpoint as fx
from lava_msf.errors import GraphError, NetFileError
from lava_msf.graph import Layer, Network
from lava_msf.netfile import read_net, write_net
from lava_msf.neurons import rf
from lava_msf.reference import Executor, NumpyBackend

from netx_stock import run_stock
from small_nets import assert_backend_equals_reference

STEPS = 48  # the decays below turn by 2 pi in 11..17 steps: several resonances
IZ = {"type": "RF_IZHIKEVICH", "sinDecay": 1500, "cosDecay": 3700, "vThMant": 25}
PHASE = {"type": "RF_PHASE", "sinDecay": 2000, "cosDecay": 3400, "vThMant": 10}


def model_run(p, a_re, a_im):
    """The model over the last axis: (spikes, real, imag), each (..., T)."""
    state = rf.MODEL.reset(a_re.shape[:-1], NumpyBackend)
    out = []
    for t in range(a_re.shape[-1]):
        s, state = rf.MODEL.step(state, (a_re[..., t], a_im[..., t]), p, 0, NumpyBackend)
        out.append((s, *state))
    return [np.stack(x, axis=-1) for x in zip(*out)]


def test_decays_are_netx_float_round_trip():
    """NetX hands Lava's RF (period, alpha) computed from the file's decays; RF
    recomputes and truncates them: some file values come back one lower."""
    from lava.lib.dl.slayer.neuron.rf import neuron_params
    from lava.proc.rf.process import RF

    rng = np.random.default_rng(0)
    pairs = [(0, 4096), (4096, 0), (0, 0), (-4096, 0), (0, -4096), (1, 1), (3000, 3000), (-1500, -3000)]
    pairs += [tuple(int(v) for v in rng.integers(-4096, 4097, 2)) for _ in range(120)]
    changed = 0
    for sin, cos in pairs:
        with np.errstate(divide="ignore"):
            netx = neuron_params({"sinDecay": np.int64(sin), "cosDecay": np.int64(cos), "vThMant": np.int64(1)})
        proc = RF(shape=(1,), period=netx["period"], alpha=netx["decay"], state_exp=6, decay_bits=12, vth=1)
        lava = (int(proc.sin_decay.init), int(proc.cos_decay.init))
        assert rf.decays(rf.RfParams(sin_decay=sin, cos_decay=cos)) == lava, (sin, cos)
        changed += lava != (sin, cos)
    assert changed > 10


def _stock_neuron(p, a_re, a_im):
    """Lava's stock RF / RF_IZ as NetX builds it, on currents (n, T): spikes, real, imag."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.monitor.process import Monitor

    from lava_msf.runtime.proc.stock import resonate_and_fire

    n, steps = a_re.shape
    proc = resonate_and_fire((n,), p, 1 << 30, 1 << 30, True, name="rf")
    for a, port in ((a_re, proc.a_real_in), (a_im, proc.a_imag_in)):
        Source(data=a.astype(np.int32)).s_out.connect(port)
    sink = Sink(shape=(n,), buffer=steps)
    proc.s_out.connect(sink.a_in)
    monitors = {var: Monitor() for var in ("real", "imag")}
    for var, m in monitors.items():
        m.probe(getattr(proc, var), steps)
    try:
        proc.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        return [sink.data.get().astype(np.int64)] + [m.get_data()["rf"][var].T.astype(np.int64)
                                                     for var, m in monitors.items()]
    finally:
        proc.stop()


@pytest.mark.parametrize("p", [
    rf.RfParams("phase", 2000, 3400, 10), rf.RfParams("iz", 1500, 3700, 25),
    rf.RfParams("phase", -1500, -3000, 3), rf.RfParams("iz", 4096, 0, 300), rf.RfParams("phase", 3000, 3000, 0),
])
def test_model_matches_lava_stock_rf(p):
    """Lava's own models (no exception map), currents large enough to saturate the state."""
    rng = np.random.default_rng(1)
    n = 24
    a_re, a_im = (rng.integers(-(1 << 17), 1 << 17, (n, STEPS)) * (rng.random((n, STEPS)) < 0.2) for _ in range(2))
    a_re[: n // 2] //= 1 << 10  # half the neurons stay below saturation
    a_im[: n // 2] //= 1 << 10
    lava = _stock_neuron(p, a_re, a_im)
    ours = model_run(p, a_re, a_im)
    for name, x, y in zip(("spikes", "real", "imag"), ours, lava):
        np.testing.assert_array_equal(x, y, err_msg=f"{p} {name}")
    assert lava[0][: n // 2].any() and lava[0][n // 2:].any(), "spikes below and at saturation"
    assert (np.abs(lava[1]) == fx.STATE_LIMIT).any(), "the state saturates"


# --- networks -----------------------------------------------------------------

def write_rf_file(path, neurons, rng, sizes=(8, 6, 5), neuron_extra=None, layer_extra=None):
    """A NetX file as SLAYER exports one: input -> dense (weight/real, weight/imag) + RF neuron, per neuron."""
    with h5py.File(path, "w") as f:
        g = f.create_group("layer/0")
        g.create_dataset("type", (1,), "S10", [b"input"])
        g.create_dataset("shape", data=np.array([sizes[0]]))
        for k, neuron in enumerate(neurons, start=1):
            g = f.create_group(f"layer/{k}")
            g.create_dataset("type", (1,), "S10", [b"dense"])
            g.create_dataset("shape", data=np.array([sizes[k]]))
            g.create_dataset("inFeatures", data=sizes[k - 1])
            g.create_dataset("outFeatures", data=sizes[k])
            for part in ("real", "imag"):
                g.create_dataset(f"weight/{part}", data=2 * rng.integers(-120, 120, (sizes[k], sizes[k - 1])))
            for key, value in (layer_extra or {}).items():
                g.create_dataset(key, data=value)
            n = g.create_group("neuron")
            for key, value in {**neuron, **(neuron_extra or {})}.items():
                if isinstance(value, str):
                    n.create_dataset(key, (1,), "S16", [value.encode()])
                else:
                    n.create_dataset(key, data=value)
    return path


def spikes(rng, shape, steps, p=0.3):
    return (rng.random((*shape, steps)) < p).astype(np.int64)


def _aligned(net, frames):
    """The reference run as NetX's pipeline runs (warm_up): per layer, its values
    and its neuron's (real, imag) per step, the first STEPS Lava steps."""
    ex = Executor(net)
    ex.reset(1)
    values, states = {}, {i: [] for i in range(1, len(net.layers))}
    lat = net.latencies()
    for t in range(-max(lat), frames.shape[-1]):
        reached = [t >= -d for d in lat]
        ex.step(None if t < 0 else frames[None, ..., t], values, reached=None if t >= 0 else reached)
        for i in states:
            if reached[i]:
                states[i].append(ex.state[i])
    return values, states


def test_rf_network_matches_stock_netx_block_by_block(tmp_path):
    """input 8 -> complex dense 6 + RF_IZHIKEVICH -> complex dense 5 + RF_PHASE:
    spikes and both neuron states of every block equal stock NetX's at every
    Lava step; the file lava-msf writes back runs the same in stock NetX."""
    rng = np.random.default_rng(3)
    path = write_rf_file(tmp_path / "rf.net", [IZ, PHASE], rng)
    net = read_net(path)
    assert [(layer.type, type(layer.neuron).__name__) for layer in net.layers[1:]] == [("dense_comp", "RfParams")] * 2
    frames = spikes(rng, (8, 1, 1), STEPS)
    stock = run_stock(path, frames, neuron_vars=("real", "imag"))
    assert stock.blocks == ["ComplexDense", "ComplexDense"]
    values, states = _aligned(net, frames)
    for k, layer in enumerate(net.layers[1:], start=1):
        ours = np.stack(values[layer.name][:STEPS], axis=-1)[0]
        assert ours.sum() >= 3 * layer.size / 2, layer.name  # several resonances
        np.testing.assert_array_equal(stock.outputs[k - 1], ours, err_msg=layer.name)
        for j, var in enumerate(("real", "imag")):
            state = np.stack([s[j][0] for s in states[k][:STEPS]], axis=-1)
            np.testing.assert_array_equal(stock.neuron_vars[k - 1][var], state, err_msg=f"{layer.name} {var}")
    write_net(net, tmp_path / "back.net")
    with h5py.File(tmp_path / "back.net") as f:
        assert f["layer/2/type"][0] == b"dense" and set(f["layer/2/weight"]) == {"real", "imag"}  # 1: flatten
    assert read_net(tmp_path / "back.net").layers[1].neuron == net.layers[1].neuron
    again = run_stock(tmp_path / "back.net", frames)
    for a, b in zip(again.outputs, stock.outputs):
        np.testing.assert_array_equal(a, b)


def rf_net(rng, timesteps=10, conv=False):
    """The same network as a graph: input 8 -> rf1 (RF_IZHIKEVICH) 6 -> rf2 (RF_PHASE) 5;
    `conv`: input (2, 2, 2) -> conv + LIF (2, 2, 2) first, flattened into rf1."""
    def w(*shape):
        return 2 * rng.integers(-120, 120, shape)

    layers = [Layer("input", "input", (2, 2, 2) if conv else (8, 1, 1))]
    if conv:
        layers.append(Layer("conv", "conv", (2, 2, 2), (0,), fx.LifParams(vth_mant=60), w(2, 2, 3, 3),
                            attrs={"padding": 1}))
    for p, n_out in ((rf.RfParams("iz", 1500, 3700, 25), 6), (rf.RfParams("phase", 2000, 3400, 10), 5)):
        n_in = layers[-1].size
        layers.append(Layer(f"rf{len(layers) - conv}", "dense_comp", (n_out, 1, 1), (len(layers) - 1,), p,
                            w(n_out, n_in), attrs={"weight_imag": w(n_out, n_in)}))
    return Network(layers, timesteps).validate()


@pytest.mark.parametrize("conv", [False, True])
@pytest.mark.parametrize("backend", ["lava-cpu", "lava-cpu-fused", "lava-cpu-decomposed"])
def test_rf_network_on_lava_equals_reference(backend, conv):
    """Two samples back to back: the RF state resets at each sample's start
    (decomposed: stock Dense into stock RF / RF_IZ, lava-msf's resetting models);
    `conv`: fed by a conv layer's spikes, flattened."""
    rng = np.random.default_rng(4)
    net = rf_net(rng, timesteps=16, conv=conv)
    frames = spikes(rng, (2, *net.layers[0].shape), 16)
    assert_backend_equals_reference(net, backend, frames, ["rf1"])


def test_rf_refused_on_float_backend():
    from lava_msf.runtime import LavaRunner
    from lava_msf.runtime.builder import BuildError

    with pytest.raises(BuildError, match=r"layer 1 \(rf1\).*RfParams neuron has no floating-point"):
        LavaRunner(rf_net(np.random.default_rng(0)), "lava-cpu-float", batch_samples=1)


def test_rf_torch_backend_equals_numpy():
    import torch

    from lava_msf.export.torch_backend import TorchBackend

    rng = np.random.default_rng(5)
    net = rf_net(rng, timesteps=STEPS)
    frames = spikes(rng, (3, 8, 1, 1), STEPS)
    ours = Executor(net).run(frames)
    assert ours.any()
    np.testing.assert_array_equal(Executor(net, TorchBackend).run(torch.as_tensor(frames)).numpy(), ours)


def test_inspect_and_report_count_both_synapses():
    from lava_msf.analysis.energy import drivers
    from lava_msf.chip.loihi2 import LOIHI2
    from lava_msf.chip.report import inspect_network
    from lava_msf.layers import spec

    net = rf_net(np.random.default_rng(0))
    rows = inspect_network(net, LOIHI2)["layers"]
    layer = net.layers[1]
    real, imag = (np.abs(w.astype(np.int64)).sum(axis=1) for w in (layer.weight, layer.attrs["weight_imag"]))
    assert rows[1]["synapses"] == 2 * 8 * 6 and rows[1]["weights"] == 2 * 8 * 6 and rows[1]["fan_in"] == 16
    assert rows[1]["current_bound"] == int(np.maximum(real, imag).max())
    assert spec(layer).flops(net, 1) == 2 * 8 * 6 and drivers(net, 2) == [1]


# --- file keys ----------------------------------------------------------------

def test_netx_dense_comp_type_name_read_and_written_as_dense(tmp_path):
    """NetX's own 'dense_comp' name (stock NetX crashes on it) reads as the same layer."""
    path = write_rf_file(tmp_path / "a.net", [IZ], np.random.default_rng(0), sizes=(8, 6))
    with h5py.File(path, "a") as f:
        del f["layer/1/type"]
        f["layer/1"].create_dataset("type", (1,), "S10", [b"dense_comp"])
    net = read_net(path)
    assert net.layers[1].type == "dense_comp"
    write_net(net, tmp_path / "b.net")
    with h5py.File(tmp_path / "b.net") as f:
        assert f["layer/2/type"][0] == b"dense"  # after a flatten


@pytest.mark.parametrize("neuron, extra, layer_extra, message", [
    ({**IZ, "sinDecay": 5000}, None, None, r"key 'sinDecay' = 5000 outside -4096..4096"),
    ({**IZ, "cosDecay": -4097}, None, None, r"key 'cosDecay' = -4097 outside"),
    ({**IZ, "vThMant": -1}, None, None, r"key 'vThMant' = -1 outside 0..131071"),
    (IZ, {"gradedSpike": True}, None, r"key 'gradedSpike' is true"),
    (IZ, {"iDecay": 3}, None, r"neuron: unexpected key 'iDecay'"),
    ({k: v for k, v in IZ.items() if k != "cosDecay"}, None, None, r"missing key 'cosDecay'"),
    ({**PHASE, "type": "RF"}, None, None, r"key 'type' = 'RF': neuron type not supported"),
    ({**IZ, "sinDecay": np.float32(1500)}, None, None, r"key 'sinDecay' is stored as float32"),
    (IZ, None, {"bias": np.ones(6, dtype=np.int64)}, r"unexpected key 'bias' for a complex dense layer"),
    (IZ, None, {"delay": np.ones(6, dtype=np.int64)}, r"unexpected key 'delay' for a complex dense layer"),
    (IZ, None, {"weight/other": np.ones((6, 8), dtype=np.int64)}, r"unexpected key 'weight/other'"),
    (IZ, None, {"wgtExp": 9}, r"key 'wgtExp' = 9 outside -8..7"),
    ({"type": "CUBA", "iDecay": 1024, "vDecay": 128, "vThMant": 80}, None, None,
     r"\(layer1\): a dense_comp layer cannot feed its LifParams neuron"),
])
def test_bad_rf_keys_one_line(tmp_path, neuron, extra, layer_extra, message):
    path = write_rf_file(tmp_path / "bad.net", [neuron], np.random.default_rng(0), sizes=(8, 6),
                         neuron_extra=extra, layer_extra=layer_extra)
    with pytest.raises((NetFileError, GraphError), match=message) as err:
        read_net(path)
    assert "\n" not in str(err.value) and "bad.net" in str(err.value)


def test_bad_complex_weights_one_line(tmp_path):
    rng = np.random.default_rng(0)
    cases = [
        (lambda g: g.__delitem__("weight/imag"), r"layer 1: missing key 'weight/imag'"),
        (lambda g: (g.__delitem__("weight/imag"), g.create_dataset("weight/imag", data=np.ones((5, 8), int))),
         r"key 'outFeatures' = 6 does not match"),
        (lambda g: g.__delitem__("neuron"), r"a complex dense layer needs a resonate-and-fire 'neuron' group"),
        (lambda g: (g.__delitem__("weight/real"), g.create_dataset("weight/real", data=np.resize([255, -3], (6, 8)))),
         r"key 'weight/real' \(in -3..255\) is one stock NetX clips or truncates"),  # NetX clips 255 to 254
        (lambda g: (g.__delitem__("weight/imag"), g.create_dataset("weight/imag", data=np.full((6, 8), 300))),
         r"key 'weight/imag' \(in 300..300\) is one stock NetX clips"),
    ]
    for edit, message in cases:
        path = write_rf_file(tmp_path / "bad.net", [IZ], rng, sizes=(8, 6))
        with h5py.File(path, "a") as f:
            edit(f["layer/1"])
        with pytest.raises((NetFileError, GraphError), match=message) as err:
            read_net(path)
        assert "\n" not in str(err.value) and "bad.net" in str(err.value), message


def test_rf_neuron_on_a_real_synapse_refused(tmp_path):
    """NetX would wire a real Dense into an RF neuron (which has no a_in) and crash."""
    path = write_rf_file(tmp_path / "bad.net", [IZ], np.random.default_rng(0), sizes=(8, 6))
    with h5py.File(path, "a") as f:
        del f["layer/1/weight"]
        f["layer/1"].create_dataset("weight", data=np.full((6, 8), 2))
    with pytest.raises(NetFileError, match=r"bad.net: layer 1 \(layer1\): a dense layer cannot feed its RfParams"):
        read_net(path)


def test_decomposed_graph_is_stock_dense_into_stock_rf():
    from lava_msf.runtime.backends import get_backend
    from lava_msf.runtime.builder import build

    g = build(rf_net(np.random.default_rng(0)), get_backend("lava-cpu-decomposed"), batch_samples=1)
    kinds = {name: type(proc).__name__ for name, proc in g.processes.items()}
    assert {kinds[f"{i}:rf{i}/{part}"] for i in (1, 2) for part in ("real", "imag")} == {"Dense"}
    assert (kinds["1:rf1/neuron"], kinds["2:rf2/neuron"]) == ("RF_IZ", "RF")
    cpu = build(rf_net(np.random.default_rng(0)), get_backend("lava-cpu"), batch_samples=1)
    assert {type(cpu.processes[f"{i}:rf{i}"]).__name__ for i in (1, 2)} == {"StatefulLayer"}
