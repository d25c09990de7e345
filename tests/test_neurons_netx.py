"""The neuron models NetX builds (lava_msf.neurons), bit-exact with Lava:
the sigma-delta forms against Lava's stock fixed-point Delta, SigmaDelta and
Sigma (int32 wrap-around included); small sigma-delta networks against stock
NetX layer by layer and on every Lava backend; the LOIHI/CUBA keys NetX reads
but ignores, kept through a round trip; one-line errors for the keys refused."""

import h5py
import numpy as np
import pytest

from lava_msf import fixedpoint as fx
from lava_msf.errors import GraphError, NetFileError
from lava_msf.graph import Layer, Network
from lava_msf.netfile import read_net, write_net
from lava_msf.neurons import sdnn
from lava_msf.reference import Executor, NumpyBackend
from lava_msf.runtime import LavaRunner

from netx_stock import run_stock
from small_nets import assert_backend_equals_reference

STEPS = 12


def model_run(params, a, bias=0):
    """The model over the last axis of `a` (int64), reference backend."""
    model = sdnn.MODEL
    state = model.reset(a.shape[:-1], NumpyBackend)
    bias = np.asarray(bias, dtype=np.int64) << model.bias_shift(params)
    outs = []
    for t in range(a.shape[-1]):
        out, state = model.step(state, a[..., t], params, bias, NumpyBackend)
        outs.append(out)
    return np.stack(outs, axis=-1)


def test_sigma_delta_forms_match_lava_stock_processes():
    """Each form against Lava's stock model (no exception map: Lava's own
    arithmetic), on inputs large enough that Lava's int32 state wraps."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source

    from lava_msf.runtime.proc.stock import sigma_delta

    rng = np.random.default_rng(0)
    n = 64
    cases = [  # (params, input, bias)
        (sdnn.SdnnParams(vth_mant=3, form="delta"), rng.integers(-(1 << 21), 1 << 21, (n, STEPS)), None),
        (sdnn.SdnnParams(vth_mant=2), rng.integers(-(1 << 29), 1 << 29, (n, STEPS)), rng.integers(-900, 900, n)),
        (sdnn.SdnnParams(vth_mant=1), rng.integers(-30000, 40000, (n, STEPS)), rng.integers(-5, 5, n)),
        (sdnn.SdnnParams(vth_mant=0), rng.integers(-(1 << 30), 1 << 30, (n, STEPS)), None),
        (sdnn.SdnnParams(form="sigma"), rng.integers(-(1 << 30), 1 << 30, (n, STEPS)), None),
    ]
    lava = []
    for params, a, bias in cases:  # one run each: Lava runs only what connects to the process it starts
        proc = sigma_delta((n,), params, bias, 1 << 30, 1 << 30, True, name=params.form)
        source = Source(data=a.astype(np.int32))
        sink = Sink(shape=(n,), buffer=STEPS)
        source.s_out.connect(proc.a_in)
        proc.s_out.connect(sink.a_in)
        try:
            source.run(condition=RunSteps(num_steps=STEPS), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
            lava.append(sink.data.get().astype(np.int64))
        finally:
            source.stop()
    wrapped = held = False
    for (params, a, bias), got in zip(cases, lava):
        ours = model_run(params, a.astype(np.int64), 0 if bias is None else bias)
        np.testing.assert_array_equal(ours, got, err_msg=str(params))
        assert got.any(), params
        held |= params.vth_mant > 0 and bool((got == 0).any())  # the threshold held some changes back
        wrapped |= bool((np.abs(np.cumsum(a, axis=-1)) >= 1 << 31).any())
    assert held and wrapped, "the cases must exercise the threshold and drive Lava's int32 state past its range"


def sdnn_net(rng, timesteps=STEPS, bias=True):
    """input spikes -> conv SDNN -> conv SDNN -> dense SDNN -> dense Sigma (biases on conv1, fc1)."""
    conv = {"stride": 1, "padding": 1, "groups": 1}

    def b(n):
        return rng.integers(-3, 6, n) if bias else None

    layers = [
        Layer("input", "input", (2, 6, 6)),
        Layer("conv1", "conv", (4, 6, 6), (0,), sdnn.SdnnParams(vth_mant=0), 2 * rng.integers(-127, 127, (4, 2, 3, 3)),
              0, b(4), conv),
        Layer("conv2", "conv", (4, 6, 6), (1,), sdnn.SdnnParams(vth_mant=1), 2 * rng.integers(-90, 100, (4, 4, 3, 3)),
              0, None, conv),
        Layer("fc1", "dense", (5, 1, 1), (2,), sdnn.SdnnParams(vth_mant=1), 2 * rng.integers(-20, 25, (5, 144)), 0,
              b(5)),
        Layer("out", "dense", (3, 1, 1), (3,), sdnn.SdnnParams(form="sigma"), 2 * rng.integers(-30, 30, (3, 5)), 0),
    ]
    return Network(layers, timesteps).validate()


def spikes(rng, shape, steps):
    return (rng.random((*shape, steps)) < 0.3).astype(np.int64)


def test_sigma_delta_net_matches_stock_netx_layer_by_layer(tmp_path):
    """Stock NetX never resets: a biased neuron runs on its bias alone for the
    steps before its first input arrives. The reference's warm_up runs those
    steps; then every block equals it at every Lava step. lava-msf's own runs
    reset each neuron when its input arrives (its first aligned step differs)."""
    rng = np.random.default_rng(5)
    net = sdnn_net(rng)
    path = tmp_path / "sdnn.net"
    write_net(net, path)
    back = read_net(path)
    assert [layer.neuron for layer in back.layers] == [layer.neuron for layer in net.layers]
    frames = spikes(rng, (2, 6, 6), STEPS)
    stock = run_stock(path, frames, input_shape=(2, 6, 6))
    assert stock.blocks == ["Conv", "Conv", "Dense", "Dense"]
    ex = Executor(net)
    ex.reset(1)
    warm = {}
    ex.warm_up(warm)
    for t in range(STEPS):
        ex.step(frames[None, ..., t], warm)
    cold = {}
    Executor(net).run(frames[None], cold)
    for k, layer in enumerate(net.layers[1:], start=1):  # block k: model step s - k at Lava step s
        ours = np.stack(warm[layer.name][:STEPS], axis=-1)[0]
        assert ours.any() and not set(np.unique(ours)) <= {0, 1}, layer.name  # graded, not spikes
        np.testing.assert_array_equal(stock.outputs[k - 1], ours, err_msg=layer.name)
    # conv1's bias: NetX's conv1, reached one step before its input, has emitted on it already
    assert not np.array_equal(warm["conv1"][1], cold["conv1"][0])


@pytest.mark.parametrize("backend", ["lava-cpu", "lava-cpu-fused", "lava-cpu-decomposed"])
def test_sigma_delta_net_on_lava_equals_reference(backend):
    """Two samples back to back: sigma-delta state resets at each sample's start
    on every backend (the stock processes through lava_msf's resetting models)."""
    rng = np.random.default_rng(7)
    net = sdnn_net(rng, timesteps=6)
    frames = spikes(rng, (2, 2, 6, 6), 6)
    assert_backend_equals_reference(net, backend, frames, ["conv2"])


def test_sigma_delta_refused_on_float_backend():
    from lava_msf.runtime.builder import BuildError

    with pytest.raises(BuildError, match=r"layer 1 \(conv1\).*floating-point"):
        LavaRunner(sdnn_net(np.random.default_rng(0)), "lava-cpu-float", batch_samples=1)


def test_graded_layers_feed_synapses_unshifted():
    net = sdnn_net(np.random.default_rng(0))
    assert [(layer.spiking, layer.value_shift) for layer in net.layers[1:]] == [(False, 0)] * 4
    lif = Layer("c", "conv", (4, 6, 6), (0,), fx.LifParams(), np.zeros((4, 2, 3, 3), dtype=np.int64), 0, None,
                {"padding": 1})
    assert (lif.spiking, lif.value_shift) == (True, 0)


# --- file keys ---------------------------------------------------------------

def _write(path, neuron: dict, *, bias=None):
    """A NetX file: input (2, 4, 4) -> dense 3 with the given neuron group."""
    with h5py.File(path, "w") as f:
        g = f.create_group("layer/0")
        g.create_dataset("type", (1,), "S10", [b"input"])
        g.create_dataset("shape", data=np.array([2, 4, 4]))
        f.create_group("layer/1").create_dataset("type", (1,), "S10", [b"flatten"])
        g = f.create_group("layer/2")
        g.create_dataset("type", (1,), "S10", [b"dense"])
        g.create_dataset("shape", data=np.array([3]))
        g.create_dataset("weight", data=np.full((3, 32), 2))
        if bias is not None:
            g.create_dataset("bias", data=np.asarray(bias))
        n = g.create_group("neuron")
        for key, value in neuron.items():
            if isinstance(value, str):
                n.create_dataset(key, (1,), "S10", [value.encode()])
            else:
                n.create_dataset(key, data=value)
    return path


LOIHI = {"type": "LOIHI", "iDecay": 1024, "vDecay": 128, "vThMant": 80, "refDelay": 1, "scaleRho": 0.0013717421,
         "tauRho": 0.1, "theta": 5120.0, "wgtExp": 0}


def test_loihi_keys_read_ignored_and_written_back(tmp_path):
    net = read_net(_write(tmp_path / "a.net", {**LOIHI, "messageBits": 3, "refDelay": 2}))
    p = net.layers[-1].neuron
    assert (p.vth_mant, p.i_decay, p.v_decay) == (80, 1024, 128)
    # the arithmetic is the plain CUBA's, as NetX builds it
    plain = fx.LifParams(vth_mant=80, i_decay=1024, v_decay=128)
    frames = spikes(np.random.default_rng(1), (1, 2, 4, 4), 8)
    np.testing.assert_array_equal(Executor(net).run(frames),
                                  Executor(Network([net.layers[0], Layer(**{**vars(net.layers[1]), "neuron": plain})],
                                                   8)).run(frames))
    write_net(net, tmp_path / "b.net")
    with h5py.File(tmp_path / "b.net") as f:
        g = f["layer/2/neuron"]
        assert g["type"][0] == b"LOIHI" and g["refDelay"][()] == 2 and g["messageBits"][()] == 3
        assert g["scaleRho"][()] == pytest.approx(0.0013717421) and g["theta"][()] == 5120.0
    assert read_net(tmp_path / "b.net").layers[-1].neuron == p


def test_sdnn_keys_round_trip(tmp_path):
    path = _write(tmp_path / "s.net", {"type": "SDNN", "vThMant": 7, "activation": "relu", "messageBits": 12})
    p = read_net(path).layers[-1].neuron
    assert p == sdnn.SdnnParams(vth_mant=7, message_bits=12)
    path = _write(tmp_path / "t.net", {"type": "SDNN", "activation": "relu", "sigma_output": True})
    assert read_net(path).layers[-1].neuron.form == "sigma"


@pytest.mark.parametrize("neuron, bias, message", [
    ({**LOIHI, "gradedSpike": True}, None, r"layer 2.*key 'gradedSpike' is true"),
    ({**LOIHI, "scaleRho": np.nan}, None, r"layer 2.*key 'scaleRho' = nan"),
    ({**LOIHI, "wgtExp": 9}, None, r"layer 2.*key 'wgtExp' = 9 outside -8..7"),
    ({**LOIHI, "refDelay": -1}, None, r"key 'refDelay' = -1"),
    ({**LOIHI, "messageBits": 40}, None, r"key 'messageBits' = 40"),
    ({**LOIHI, "tauRho": "x"}, None, r"key 'tauRho' must be one number"),
    ({"type": "SDNN", "vThMant": 1, "activation": "sigmoid"}, None, r"key 'activation' = 'sigmoid'"),
    ({"type": "SDNN", "activation": "relu"}, None, r"missing key 'vThMant'"),
    ({"type": "SDNN", "vThMant": 1 << 20}, None, r"key 'vThMant' = 1048576 outside"),
    ({"type": "SDNN", "vThMant": 1, "messageBits": 0}, None, r"key 'messageBits' = 0 outside 1..24"),
    ({"type": "SDNN", "sigma_output": True}, [1, 2, 3], r"\(layer2\): a sigma neuron takes no bias"),
    ({"type": "SDNN", "vThMant": 1}, [1 << 15, 0, 0], r"\(layer2\): bias up to 32768.*16-bit bias"),
    ({"type": "SDNN", "vThMant": 1, "tauRho": 1.0}, None, r"unexpected key 'tauRho'"),
    ({"type": "RF_PHASE", "vThMant": 1, "sinDecay": 10, "cosDecay": 4000}, None,
     r"\(layer2\): a dense layer cannot feed its RfParams neuron \(resonate-and-fire"),
])
def test_bad_neuron_keys_one_line(tmp_path, neuron, bias, message):
    path = _write(tmp_path / "bad.net", neuron, bias=bias)
    with pytest.raises((NetFileError, GraphError), match=message) as err:
        read_net(path)
    assert "\n" not in str(err.value) and "bad.net" in str(err.value)


def test_inspect_and_report_count_sigma_delta_layers():
    from lava_msf.analysis.energy import drivers
    from lava_msf.chip.loihi2 import LOIHI2
    from lava_msf.chip.report import inspect_network

    net = sdnn_net(np.random.default_rng(0))
    rows = inspect_network(net, LOIHI2)["layers"]
    # conv2 reads conv1's graded values: up to 2**15 - 1 (16-bit messages) times its |weights|
    w = np.abs(net.layers[2].weight).reshape(4, -1).sum(axis=1).max()
    assert rows[2]["current_bound"] == w * ((1 << 15) - 1) and rows[2]["message_bits"] == LOIHI2["message_bits"]
    assert [drivers(net, i) for i in (2, 3, 4)] == [[1], [2], [3]]  # a graded neuron's values are its events


def test_shipped_square_sdnn_reproduces_lava_dl_sigma_ground_truths(tmp_path):
    """lava-dl's square PilotNet SDNN as its Loihi test runs it (skip_layers=1:
    act0, the input layer's recorded output, into the first conv): each conv's
    sigma after every step equals sigma<k>_square.npy, once the reference runs
    NetX's pipeline (warm_up: the biased layers run before their input arrives).
    The file is read by lava-msf's reader, its input layer left out."""
    from netx_stock import netx_file

    src = netx_file("gts/pilotnet_sdnn/square_network.net")
    path = tmp_path / "square_convs.net"
    with h5py.File(src) as f, h5py.File(path, "w") as g:
        for k in range(1, 5):
            f.copy(f[f"layer/{k}"], g, f"layer/{k - 1}")
    net = read_net(path, input_shape=(3, 33, 33))
    assert [type(layer.neuron) for layer in net.layers[1:]] == [sdnn.SdnnParams] * 4
    act0 = np.load(netx_file("gts/pilotnet_sdnn/act0.npy"))[:33, :33].transpose(2, 1, 0, 3).astype(np.int64)
    gts = [np.load(netx_file(f"gts/pilotnet_sdnn/sigma{k}_square.npy")).transpose(2, 1, 0, 3) for k in range(1, 5)]
    ex = Executor(net)
    ex.reset(1)
    ex.warm_up()
    lat = net.latencies()
    for t in range(5):  # model step t is Lava step t + latency; the ground truths are per Lava step
        ex.step(act0[None, ..., t])
        for k in range(1, 5):
            sigma = ex.state[k][0][0]  # the SDNN state is (sigma, act, residue)
            np.testing.assert_array_equal(sigma, gts[k - 1][..., t + lat[k]], err_msg=f"conv {k}, step {t}")
    assert all(gt[..., 4].any() for gt in gts)


def test_sigma_delta_torch_backend_equals_numpy():
    """The batched torch backend (evaluation) computes the same, wrap-around included."""
    import torch

    from lava_msf.export.torch_backend import TorchBackend

    rng = np.random.default_rng(2)
    net = sdnn_net(rng)
    frames = spikes(rng, (3, 2, 6, 6), STEPS)
    np.testing.assert_array_equal(Executor(net, TorchBackend).run(torch.as_tensor(frames)).numpy(),
                                  Executor(net).run(frames))
    a = rng.integers(-(1 << 30), 1 << 30, (2, 8, STEPS))
    for params in (sdnn.SdnnParams(vth_mant=5), sdnn.SdnnParams(vth_mant=5, form="delta")):
        state = sdnn.MODEL.reset(a.shape[:-1], TorchBackend)
        ours = model_run(params, a)
        for t in range(STEPS):
            out, state = sdnn.MODEL.step(state, torch.as_tensor(a[..., t]), params, 0, TorchBackend)
            np.testing.assert_array_equal(out.numpy(), ours[..., t])
