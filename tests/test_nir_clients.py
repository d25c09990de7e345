"""The real NIR clients (test extras: snntorch 1.0.0, norse 1.1.0, nirtorch 2.6, sinabs 2.0.3):
networks built in snnTorch, Norse and sinabs, exported by their own NIR export, imported by lava-msf
and run on the reference executor and lava-cpu; lava-msf's exports imported by snnTorch and Norse
and run there. Each is compared with the other side's run on the same input spikes (docs/nir.md,
"Clients").

Exact cases use weights that are exact in Loihi fixed point and decays of 1/2 over few enough steps
that Lava's truncating decays lose no bit (the oldest contribution is halved at most T - 1 times; a
state that is a multiple of 2**(T - 1) halves exactly); the others state their measured agreement."""

import nir
import numpy as np
import pytest
import torch

# test extras (pyproject): without them this module is skipped, visibly, as the other extras' tests are
snn = pytest.importorskip("snntorch")
norse = pytest.importorskip("norse.torch")
sinabs = pytest.importorskip("sinabs")
import sinabs.layers as sl  # noqa: E402
from norse.torch.functional.lif import LIFParameters  # noqa: E402
from sinabs.activation import MembraneReset, SingleSpike  # noqa: E402
from snntorch.export_nir import export_to_nir  # noqa: E402
from snntorch.import_nir import import_from_nir  # noqa: E402
from snntorch.utils import reset as snntorch_reset  # noqa: E402

from lava_msf import fixedpoint as fx  # noqa: E402
from lava_msf.graph import Layer, Network  # noqa: E402
from lava_msf.nir import NirError, export_nir, import_nir  # noqa: E402
from lava_msf.reference import Executor  # noqa: E402

from small_nets import assert_backend_equals_reference  # noqa: E402

SNNTORCH_DT = 1e-4  # snnTorch 1.0.0 hard-codes its NIR time step
NORSE_DT = 2.0**-10  # dt * tau_inv exact in float32: Norse's own run has no rounding either


def spikes(shape, steps, p, seed):
    return (np.random.default_rng(seed).random((*shape, steps)) < p).astype(np.int64)


def run_lava(net, x):
    """The reference executor's spikes of every spiking layer: {name: (N, ..., T)}."""
    probes = {}
    Executor(net).run(x, probes)
    return {layer.name: np.stack(probes[layer.name], axis=-1)
            for layer in net.layers if layer.neuron is not None}


def run_torch(step, x):
    """`step(x_t)` -> [spikes of each neuron layer] over x's last axis: [(N, ..., T)]."""
    out = []
    with torch.no_grad():
        for t in range(x.shape[-1]):
            out.append([s.numpy() for s in step(torch.from_numpy(x[..., t]).float())])
    return [np.stack(layer, axis=-1) for layer in zip(*out)]


def cosine(a, b):
    a, b = a.reshape(-1).astype(np.float64), b.reshape(-1).astype(np.float64)
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


def agreement(lava, frame):
    """(spike agreement, cosine of the per-neuron spike counts) of two (N, ..., T) spike arrays."""
    lava = lava.reshape(frame.shape)
    return float((lava == frame).mean()), cosine(lava.sum(-1), frame.sum(-1))


# ---- snnTorch -> NIR -> lava-msf


def snntorch_cnn(alpha, beta, weights, rng):
    """Conv2d(1->4, 3x3) -> Synaptic -> Flatten -> Linear(144->5) -> Leaky: snnTorch's own modules,
    reset to zero without delay (Lava's reset). Per-neuron parameters so that NIR's types infer."""
    full = lambda v, *s: torch.full(s, float(v))  # noqa: E731
    conv = torch.nn.Conv2d(1, 4, 3, padding=1, bias=False)
    fc = torch.nn.Linear(144, 5, bias=False)
    conv.weight.data, fc.weight.data = (torch.tensor(w, dtype=torch.float32) for w in weights(rng))
    kw = dict(init_hidden=True, reset_mechanism="zero", reset_delay=False)
    return torch.nn.Sequential(
        conv, snn.Synaptic(alpha=full(alpha, 4, 6, 6), beta=full(beta, 4, 6, 6), threshold=full(1, 4, 6, 6), **kw),
        torch.nn.Flatten(), fc, snn.Leaky(beta=full(beta, 5), threshold=full(1, 5), **kw))


def snntorch_step(model):
    def step(x):
        out, seen = x, []
        for module in model:
            out = module(out)
            if isinstance(module, snn.SpikingNeuron):
                seen.append(out)
        return seen
    return step


def eighths(rng):  # multiples of 1/8: Lava's states are multiples of 512 (2**-3 times 4096)
    return rng.integers(-6, 9, (4, 1, 3, 3)) / 8, rng.integers(-3, 4, (5, 144)) / 8


def gaussian(rng):
    return rng.normal(0.05, 0.3, (4, 1, 3, 3)), rng.normal(0.0, 0.1, (5, 144))


def snntorch_through_lava(alpha, beta, weights, steps, seed):
    model = snntorch_cnn(alpha, beta, weights, np.random.default_rng(seed))
    graph = export_to_nir(model, torch.zeros(1, 1, 6, 6), ignore_dims=[0])
    net, report = import_nir(graph, dt=SNNTORCH_DT, timesteps=steps)
    x = spikes((6, 1, 6, 6), steps, 0.3, seed)
    snntorch_reset(model)
    theirs = run_torch(snntorch_step(model), x)
    return net, report, x, run_lava(net, x), theirs


def test_snntorch_cnn_runs_on_lava_bit_exactly():
    """alpha = beta = 1/2, weights in 1/8 steps, T = 10: snnTorch's float32 run and Lava's integers agree
    on every spike of both layers, on the reference executor and on lava-cpu."""
    net, report, x, lava, (conv, fc) = snntorch_through_lava(0.5, 0.5, eighths, steps=10, seed=3)
    assert [layer.type for layer in net.layers] == ["input", "conv", "dense"]
    assert net.layers[1].neuron.i_decay == net.layers[1].neuron.v_decay == 2048
    assert net.layers[2].neuron.i_decay == 4096  # Leaky: NIR LIF, the current is the step's input
    assert all(row["weight_rel_error"] == 0 for row in report["quantization"].values())
    assert 0.05 < conv.mean() < 0.8 and 0.05 < fc.mean() < 0.8  # both layers fire and are not saturated
    np.testing.assert_array_equal(lava["0"], conv)
    np.testing.assert_array_equal(lava["3"].reshape(fc.shape), fc)
    assert_backend_equals_reference(net, "lava-cpu", x[:2], probe_names=("0",))


def test_snntorch_cnn_with_float_weights_and_decays():
    """alpha = 0.8, beta = 0.9, Gaussian weights, T = 20: quantized to 8-bit weights and 1/4096 decays."""
    net, report, x, lava, (conv, fc) = snntorch_through_lava(0.8, 0.9, gaussian, steps=20, seed=4)
    assert not report["exact"] and net.layers[1].neuron.i_decay == 819 and net.layers[1].neuron.v_decay == 410
    assert 0.05 < conv.mean() < 0.5 and 0.05 < fc.mean() < 0.5  # measured 0.21, 0.12
    (a_conv, c_conv), (a_fc, c_fc) = agreement(lava["0"], conv), agreement(lava["3"], fc)
    # measured: spike agreement 0.9963 (conv), 0.958 (fc); cosine of the spike counts 0.9998, 0.9927
    # (before the import put the largest weight on the largest mantissa: 0.9889, 0.9267, 0.9996, 0.9956).
    # The differences are the 1/4096 decays (0.2 -> 819/4096, 0.1 -> 410/4096), Lava's truncation and
    # the 8-bit weights, compounding over 20 steps and into the second layer.
    assert a_conv >= 0.97 and a_fc >= 0.85 and c_conv >= 0.995 and c_fc >= 0.98, (a_conv, a_fc, c_conv, c_fc)


def test_snntorch_recurrent_layer_is_dense_rec_bit_exactly():
    """snnTorch's RLeaky (mem = beta mem + x + W_rec spk[t-1]) exports its Linear -> LIF -> w_rec cycle;
    lava-msf reads it as a dense_rec layer, and every spike agrees with snnTorch's own run. (snnTorch
    1.0.0's RSynaptic fails with reset_delay=False in its own forward, so only RLeaky is tested.)"""
    rng = np.random.default_rng(12)
    fc = torch.nn.Linear(20, 8, bias=False)
    fc.weight.data = torch.tensor(rng.integers(-3, 6, (8, 20)) / 8).float()
    rec = snn.RLeaky(beta=torch.full((8,), 0.5), threshold=torch.ones(8), linear_features=8, all_to_all=True,
                     init_hidden=True, reset_mechanism="zero", reset_delay=False)
    rec.recurrent.weight.data = torch.tensor(rng.integers(-4, 4, (8, 8)) / 8).float()
    rec.recurrent.bias.data.zero_()
    model = torch.nn.Sequential(fc, rec)
    net, report = import_nir(export_to_nir(model, torch.zeros(1, 20), ignore_dims=[0]), dt=SNNTORCH_DT, timesteps=10)
    assert [layer.type for layer in net.layers] == ["input", "dense_rec"]
    x = spikes((5, 20, 1, 1), 10, 0.3, 13)
    snntorch_reset(model)
    (theirs,) = run_torch(lambda x_t: [model(x_t)], x[:, :, 0, 0])
    lava = run_lava(net, x)[net.layers[1].name]
    assert 0.05 < theirs.mean() < 0.8
    np.testing.assert_array_equal(lava.reshape(theirs.shape), theirs)
    assert_backend_equals_reference(net, "lava-cpu", x[:2])


# ---- Norse -> NIR -> lava-msf


def norse_cnn(rng):
    """Conv2d -> LIFCell -> Conv2d (stride 2) -> LIFCell, dt * tau_inv = 1/2 for both time constants
    (no Linear: Norse 1.1.0's to_nir writes no node for Flatten)."""
    def lif(*shape):
        full = lambda v: torch.full(shape, float(v))  # noqa: E731
        return norse.LIFCell(LIFParameters(tau_syn_inv=full(512), tau_mem_inv=full(512), v_leak=full(0),
                                           v_th=full(1), v_reset=full(0)), dt=NORSE_DT)
    c1, c2 = torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.Conv2d(4, 3, 3, padding=1, stride=2)
    c1.weight.data = torch.tensor(rng.integers(-6, 9, (4, 1, 3, 3)) / 8).float()
    c2.weight.data = torch.tensor(rng.integers(-3, 5, (3, 4, 3, 3)) / 8).float()
    c1.bias.data = torch.tensor(rng.integers(-2, 3, 4) / 8).float()  # into the decaying current
    c2.bias.data = torch.zeros(3)
    return norse.SequentialState(c1, lif(4, 6, 6), c2, lif(3, 3, 3))


def test_norse_cnn_runs_on_lava_bit_exactly():
    """Norse's LIFCell jumps its current by the input (no dt / tau_syn factor) and exports w_in = 1;
    under NIR's Euler reading that current is w_in = tau_syn / dt, which the test sets. Then T = 10
    spikes agree exactly with Norse's own run, on the reference executor and on lava-cpu."""
    model = norse_cnn(np.random.default_rng(5))
    graph = norse.to_nir(model, torch.zeros(1, 6, 6), dt=NORSE_DT)  # no batch: NIR types
    cuba = [node for node in graph.nodes.values() if isinstance(node, nir.CubaLIF)]
    assert len(cuba) == 2 and all(np.all(node.w_in == 1) for node in cuba)  # what Norse writes
    # Norse writes tau = dt / tau_inv, i.e. dt times the time constant: read at dt**2, dt / tau is Norse's
    dt = NORSE_DT**2
    for node in cuba:
        node.w_in = node.tau_syn / dt
    net, report = import_nir(graph, dt=dt, timesteps=10)
    x = spikes((6, 1, 6, 6), 10, 0.3, 6)

    def step(x_t, state=[None] * 5):  # noqa: B006 - the cells' states, carried over the steps
        out, seen = x_t, []
        for i, module in enumerate(model):
            if isinstance(module, norse.LIFCell):
                out, state[i] = module(out, state[i])
                seen.append(out)
            else:
                out = module(out)
        return seen
    conv, fc = run_torch(step, x)
    lava = run_lava(net, x)
    assert 0.05 < conv.mean() < 0.8 and 0.05 < fc.mean() < 0.8
    spiking = [layer.name for layer in net.layers if layer.neuron is not None]
    assert len(spiking) == 2, [(layer.name, layer.type) for layer in net.layers]
    np.testing.assert_array_equal(lava[spiking[0]].reshape(conv.shape), conv)
    np.testing.assert_array_equal(lava[spiking[1]].reshape(fc.shape), fc)
    assert_backend_equals_reference(net, "lava-cpu", x[:2], probe_names=(spiking[0],))


# ---- lava-msf -> NIR -> snnTorch, Norse


def lava_msf_cnn(c2_i_decay):
    """input spikes -> conv + CubaLIF -> conv (stride 2) + LIF (i_decay 4096) or CubaLIF -> dense +
    CubaLIF, decays of 1/2 (weight exponent 0: states are multiples of 64, exact over T = 7)."""
    rng = np.random.default_rng(7)
    cuba = fx.LifParams(vth_mant=64, i_decay=2048, v_decay=2048)
    layers = [
        Layer("input", "input", (2, 8, 8)),
        Layer("c1", "conv", (4, 8, 8), (0,), weight=rng.integers(-30, 40, (4, 2, 3, 3)), neuron=cuba,
              attrs={"padding": 1}),
        Layer("c2", "conv", (6, 4, 4), (1,), weight=rng.integers(-30, 40, (6, 4, 3, 3)),
              neuron=fx.LifParams(vth_mant=96, i_decay=c2_i_decay, v_decay=2048), attrs={"padding": 1, "stride": 2}),
        Layer("fc", "dense", (5, 1, 1), (2,), weight=rng.integers(-20, 25, (5, 96)), neuron=cuba),
    ]
    return Network(layers, timesteps=7, meta={"input": "spikes"}).validate()


def hooked(model, kinds):
    """A step function of `model` returning the outputs of its modules of `kinds`, in call order."""
    seen, state = [], [None]
    for module in model.modules():
        if isinstance(module, kinds):
            module.register_forward_hook(lambda m, i, out: seen.append(out[0] if isinstance(out, tuple) else out))

    def step(x_t):
        seen.clear()
        out = model(x_t, state[0]) if state[0] is not None else model(x_t)
        if isinstance(out, tuple):  # Norse's modules return (output, state)
            state[0] = out[1]
        return list(seen)
    return step


def run_unbatched(make_step, x):
    """Each sample alone, unbatched (C, H, W) as NIR's signals are: both clients' imports read NIR's
    Flatten(start_dim=0) as torch's, which would flatten a batch dimension too."""
    return [np.stack(layer) for layer in zip(*(run_torch(make_step(), sample) for sample in x))]


def test_lava_msf_export_runs_in_snntorch_bit_exactly():
    net = lava_msf_cnn(4096)
    x = spikes((4, 2, 8, 8), 7, 0.3, 8)
    lava = run_lava(net, x)
    graph = export_nir(net, dt=SNNTORCH_DT)
    models = []

    def make_step():
        models.append(import_from_nir(graph))
        return hooked(models[-1], (snn.Synaptic, snn.Leaky))
    theirs = run_unbatched(make_step, x)
    assert [type(m).__name__ for m in models[0].modules() if isinstance(m, snn.SpikingNeuron)] == \
        ["Synaptic", "Leaky", "Synaptic"]
    assert len(theirs) == 3 and all(0.05 < lava[name].mean() < 0.8 for name in lava)
    for name, frame in zip(("c1", "c2", "fc"), theirs):
        np.testing.assert_array_equal(lava[name].reshape(frame.shape), frame)


def test_lava_msf_export_runs_in_norse_bit_exactly():
    """Norse's CubaLIF import reads NIR's Euler semantics (a box synapse scaled by dt / tau_syn, then r);
    its LIF import drops r (a warning), so this net's layers are all CubaLIF."""
    net = lava_msf_cnn(2048)
    x = spikes((4, 2, 8, 8), 7, 0.3, 9)
    lava = run_lava(net, x)
    graph = export_nir(net, dt=NORSE_DT)
    theirs = run_unbatched(lambda: hooked(norse.from_nir(graph, dt=NORSE_DT), (norse.LIFBoxCell,)), x)
    assert len(theirs) == 3 and all(0.05 < lava[name].mean() < 0.8 for name in lava)
    for name, frame in zip(("c1", "c2", "fc"), theirs):
        np.testing.assert_array_equal(lava[name].reshape(frame.shape), frame)


# ---- sinabs -> NIR -> lava-msf


def test_sinabs_cnn_runs_on_lava_bit_exactly():
    """sinabs' IAF (v += x; fire at v >= threshold; here one spike a step and reset to zero, Lava's
    reset) exports as NIR's IF with r = 1: sinabs' time is in steps, so the graph is read at dt = 1
    (gain dt * r = 1). Its threshold is not strict: with weights in 1/8 steps and thresholds between
    the 1/8 steps no voltage equals one, and >= and > fire alike. SumPool2d + IAF is a lava-msf pool."""
    n, steps = 4, 10
    rng = np.random.default_rng(10)
    iaf = lambda th: sl.IAFSqueeze(batch_size=n, spike_threshold=th, spike_fn=SingleSpike,  # noqa: E731
                                   reset_fn=MembraneReset())
    conv = torch.nn.Conv2d(1, 4, 3, padding=1, bias=False)
    fc = torch.nn.Linear(36, 5, bias=False)
    conv.weight.data = torch.tensor(rng.integers(-6, 9, (4, 1, 3, 3)) / 8).float()
    fc.weight.data = torch.tensor(rng.integers(-3, 5, (5, 36)) / 8).float()
    model = torch.nn.Sequential(conv, iaf(1.0625), sl.SumPool2d(2), iaf(1.5625), torch.nn.Flatten(), fc, iaf(1.0625))
    graph = sinabs.to_nir(model, torch.zeros(n, 1, 6, 6))
    net, report = import_nir(graph, dt=1.0, timesteps=steps)
    assert [layer.type for layer in net.layers] == ["input", "conv", "pool", "dense"]

    x = spikes((n, 1, 6, 6), steps, 0.3, 11)
    sinabs.reset_states(model)
    with torch.no_grad():  # sinabs runs all steps at once: (N * T, C, H, W), sample-major
        out = torch.from_numpy(np.moveaxis(x, -1, 1).reshape(n * steps, 1, 6, 6)).float()
        theirs = []
        for module in model:
            out = module(out)
            if isinstance(module, sl.IAFSqueeze):
                theirs.append(np.moveaxis(out.numpy().reshape(n, steps, *out.shape[1:]), 1, -1))
    lava = run_lava(net, x)
    assert all(0.05 < frame.mean() < 0.8 for frame in theirs), [frame.mean() for frame in theirs]
    for layer, frame in zip(net.layers[1:], theirs):
        np.testing.assert_array_equal(lava[layer.name].reshape(frame.shape), frame)
    assert_backend_equals_reference(net, "lava-cpu", x[:2], probe_names=(net.layers[1].name,))


def test_lava_msf_current_readout_runs_in_snntorch_exactly():
    """A last dense layer without a neuron (lava-msf's current readout) exports as its Affine into
    Output; snnTorch reads it as a Linear whose output is Lava's readout mantissa / 64, exactly."""
    cnn = lava_msf_cnn(4096)
    readout = Layer("fc", "dense", (5, 1, 1), (2,), weight=cnn.layers[3].weight)
    net = Network(cnn.layers[:3] + [readout], timesteps=7, meta={"input": "spikes"}).validate()
    x = spikes((4, 2, 8, 8), 7, 0.3, 8)
    ours = Executor(net).run(x)
    graph = export_nir(net, dt=SNNTORCH_DT)

    def make_step():
        model = import_from_nir(graph)
        return lambda x_t: [model(x_t)[0]]  # nirtorch's module returns (output, state)
    (theirs,) = run_unbatched(make_step, x)
    assert np.abs(theirs).max() > 1  # the readout sees many spikes
    np.testing.assert_array_equal(ours.reshape(theirs.shape) / fx.WEIGHT_SCALE, theirs)


# ---- lava-msf's residual SDSA v1_kv net -> NIR for Norse (no Scale, LIFs at r = 1) -> Norse


def residual_v1_kv_net():
    """Meta-SpikeFormer's dataflow in small: frame input (value shift 2), conv + LIF, two current
    branches merged (membrane shortcut), SN, Q K V, SDSA v1_kv, its projection merged again, token
    mean, SN, dense readout; voltage biases on the stem (a synapse's neuron) and on the SN (reading
    the merge). Weights and biases in multiples of 16 and decays of 1/2: Lava's states stay
    multiples of 2**T over T = 4 and lose no bit to its truncations, and float32 sums them exactly."""
    rng = np.random.default_rng(5)
    w = lambda *s: rng.integers(-6, 8, s) * 16  # noqa: E731
    lif = lambda vth: fx.LifParams(vth_mant=vth, v_decay=2048)  # noqa: E731
    c, hw = 8, (4, 4)
    layers = [Layer("input", "input", (2, *hw), attrs={"value_shift": 2}),
              Layer("stem", "conv", (c, *hw), (0,), weight=w(c, 2, 3, 3), attrs={"padding": 1}, neuron=lif(100),
                    bias=w(c)),
              Layer("a", "conv", (c, *hw), (1,), weight=w(c, c, 1, 1)),
              Layer("b", "conv", (c, *hw), (1,), weight=w(c, c, 3, 3), attrs={"padding": 1}),
              Layer("res", "merge", (c, *hw), (2, 3)),
              Layer("sn", "neuron", (c, *hw), (4,), neuron=lif(60), bias=w(c))]
    layers += [Layer(name, "conv", (c, *hw), (5,), weight=w(c, c, 1, 1) + 48, neuron=lif(64)) for name in "qkv"]
    layers += [Layer("attn", "sdsa", (c, *hw), (6, 7, 8), neuron=lif(96), attrs={"variant": "v1_kv", "heads": 2,
                                                                                  "scale": 16}),
               Layer("proj", "conv", (c, *hw), (9,), weight=w(c, c, 1, 1)),
               Layer("res2", "merge", (c, *hw), (4, 10)),
               Layer("mean", "mean", (c, 1, 1), (11,), attrs={"scale_mant": 1, "scale_shift": 4}),
               Layer("head_sn", "neuron", (c, 1, 1), (12,), neuron=lif(200)),
               Layer("fc", "dense", (5, 1, 1), (13,), weight=w(5, c))]
    return Network(layers, timesteps=4, meta={"input": "frames"}).validate()


def test_lava_msf_residual_v1_kv_net_runs_in_norse_exactly():
    """client='norse': merges as edges into their consumers, every Scale in a synapse's weights (the
    input's 2**-2, the mean, SDSA's count scale; pools as depthwise Conv2d), each LIF's r and v_leak in
    the weights and bias before it (Norse starts a LIF at v_leak): only nodes Norse reads. Norse's
    neurons then give Lava's readout exactly."""
    from nir_clients import norse_module, run_norse

    net = residual_v1_kv_net()
    graph = export_nir(net, dt=NORSE_DT, client="norse")
    assert {type(n).__name__ for n in graph.nodes.values()} == {"Input", "Output", "Conv2d", "LIF", "Flatten",
                                                               "Affine"}
    assert all((n.r == 1).all() and not n.v_leak.any() for n in graph.nodes.values() if isinstance(n, nir.LIF))
    assert graph.nodes["stem"].bias.any() and graph.nodes["sn.r"].bias.any()  # both places a v_leak goes
    assert "Scale" in {type(n).__name__ for n in export_nir(net, dt=NORSE_DT).nodes.values()}  # default unchanged
    x = np.random.default_rng(6).integers(0, 4, (6, 2, 4, 4, 4))
    probes = {}
    ours = Executor(net).run(x, probes)
    assert all(0.05 < np.stack(probes[name]).mean() < 0.8 for name in ("stem", "sn", "attn", "head_sn")), \
        {name: np.stack(probes[name]).mean() for name in ("stem", "sn", "attn", "head_sn")}
    theirs = run_norse(norse_module(graph, NORSE_DT), x)
    assert np.abs(ours).max() > 64
    np.testing.assert_array_equal(ours.reshape(theirs.shape) / fx.WEIGHT_SCALE, theirs)


def test_client_export_refuses_a_scale_it_cannot_fold():
    """A Scale that varies within a channel after a Conv2d that feeds others too has no portable form."""
    from lava_msf.nir.portable import portable

    conv = nir.Conv2d(input_shape=(2, 2), weight=np.ones((1, 1, 1, 1)), stride=1, padding=0, dilation=1, groups=1,
                      bias=np.zeros(1))
    graph = nir.NIRGraph(nodes={"in": nir.Input(np.array([1, 2, 2])), "c": conv,
                                "s": nir.Scale(np.arange(4.0).reshape(1, 2, 2)), "out": nir.Output(np.array([1, 2, 2]))},
                         edges=[("in", "c"), ("c", "s"), ("s", "out")], type_check=False)
    with pytest.raises(NirError, match="'s' \\(Scale\\) has no portable form"):
        portable(graph)


def test_cli_export_nir_for_norse_writes_no_scale(tmp_path, capsys):
    from lava_msf.cli import main
    from lava_msf.netfile import write_net

    write_net(residual_v1_kv_net(), tmp_path / "m.net")
    assert main(["export-nir", str(tmp_path / "m.net"), "--out", str(tmp_path / "m.nir"), "--for", "norse",
                 "--dt", str(NORSE_DT), "--json"]) == 0
    assert '"for": "norse"' in capsys.readouterr().out
    graph = nir.read(tmp_path / "m.nir", type_check=False)
    kinds = {type(n).__name__ for n in graph.nodes.values()}
    assert "Scale" not in kinds and "Conv2d" in kinds
    assert main(["export-nir", str(tmp_path / "m.net"), "--out", str(tmp_path / "f.nir"), "--neuron", "float"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--neuron takes a checkpoint" in err[0] and not (tmp_path / "f.nir").exists()


# ---- a torch Meta-SpikeFormer's float-neuron model -> NIR for Norse -> Norse


def test_float_neuron_model_runs_in_norse_as_in_torch(tmp_path, capsys):
    """An msf_micro with SDSA v1_kv in float neuron mode (H = V + (X - V) / 2, firing at H >= v_th),
    exported as itself (float weights and biases, BN folded, RepConv fused, exact token mean, each
    threshold the float32 below v_th) and run in Norse and with snnTorch's neurons: every SN spikes
    as in torch. The two sides
    round their float32 sums differently (folded BN, fused RepConv), so a voltage within ~1e-6 of a
    threshold may fire on one side only: held to 1 in 10**4 spikes (measured: none differ)."""
    from nir_clients import neuron_nodes, norse_module, run_snntorch, run_with_spikes, snntorch_module

    from lava_msf.cli import main
    from lava_msf.export.exporter import export_with_floats
    from lava_msf.export.nir import export_nir_from_model
    from lava_msf.model import create_model
    from lava_msf.model.neuron import set_neuron_mode
    from lava_msf.train import save_checkpoint

    torch.manual_seed(0)
    model = create_model("msf_micro", sdsa="v1_kv", timesteps=4)
    for m in model.modules():  # statistics that keep every stage spiking (untrained, it falls silent)
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.05, 0.1)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 1)
    set_neuron_mode(model.eval(), "float")
    save_checkpoint(tmp_path / "m.pt", model, epoch=1, metrics={})
    assert main(["export-nir", str(tmp_path / "m.pt"), "--out", str(tmp_path / "m.nir"), "--for", "norse",
                 "--dt", str(NORSE_DT), "--json"]) == 0
    assert '"neuron": "float"' in capsys.readouterr().out
    graph = nir.read(tmp_path / "m.nir", type_check=False)
    assert graph.metadata["lava_msf_neuron"] == "float"
    thresholds = {float(n.v_threshold.reshape(-1)[0]) for n in graph.nodes.values() if isinstance(n, nir.LIF)}
    assert thresholds == {1.5, float(np.nextafter(np.float32(1), np.float32(0))),
                          float(np.nextafter(np.float32(0.5), np.float32(0)))}

    x = torch.rand(4, 1, 32, 32)
    frames = np.repeat(x.numpy()[..., None] * 255, 4, axis=-1)  # the .net's units: the stem reads x / 256
    pairs = neuron_nodes(export_with_floats(model)[0])
    clients = [(norse_module(export_nir_from_model(model, NORSE_DT, "norse"), NORSE_DT), dict()),
               (snntorch_module(export_nir_from_model(model, SNNTORCH_DT, "norse")), dict(run=run_snntorch))]
    for module, how in clients:  # Norse; snnTorch's LIF import (dt = 1e-4, no v_leak: Norse's profile)
        ours, theirs, spikes = run_with_spikes(model, module, x, frames, pairs, **how)
        assert len(spikes) == 31 and all(0.05 < a.mean() < 0.8 for a, _ in spikes.values()), \
            {node: a.mean() for node, (a, _) in spikes.items()}
        differ = sum(int((a != b).sum()) for a, b in spikes.values())
        assert differ <= 1e-4 * sum(a.size for a, _ in spikes.values()), differ
        if differ == 0:  # then only the readout's float32 sums differ
            np.testing.assert_allclose(theirs, ours, rtol=0, atol=1e-4)
    deploy = export_nir_from_model(model, NORSE_DT, "norse", neuron="deploy")  # the .net's integers
    assert "lava_msf_neuron" not in deploy.metadata and not np.array_equal(
        deploy.nodes["stem.conv"].weight, graph.nodes["stem.conv"].weight)
