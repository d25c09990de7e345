"""NIR interchange (lava_msf.nir, docs/nir.md): .net -> NIR -> .net is the same
network; foreign float graphs are quantized, reported and run close to NIR's
own semantics; bad NIR files end in one line."""

import h5py
import nir
import numpy as np
import pytest

from lava_msf import fixedpoint as fx
from lava_msf.cli import main
from lava_msf.graph import Layer, Network
from lava_msf.layers import spec
from lava_msf.layers.conv import geometry
from lava_msf.layers.delay import expand
from lava_msf.netfile import read_net, write_net
from lava_msf.nir import NirError, export_nir, import_nir, read_nir, write_nir
from lava_msf.reference import Executor

from small_nets import small_net

NETX = __import__("pathlib").Path(__file__).resolve().parents[1] / ".venv/lib/python3.10/site-packages/tests/lava/lib/dl/netx"


def every_type_net():
    """Every layer type with a NIR form: conv (groups, (y, x) geometry, dilation),
    neuron layers with bias, CUBA currents, a residual merge, sum pool, token
    mean, dense with per-output delays, a recurrent dense layer, average."""
    rng = np.random.default_rng(3)
    w = lambda *s: rng.integers(-60, 60, s) * 2  # noqa: E731
    layers = [
        Layer("input", "input", (2, 7, 6), attrs={"value_shift": 8}),
        Layer("stem", "conv", (4, 4, 6), (0,), weight=w(4, 2, 3, 3), weight_exp=-1,
              attrs={"stride": (2, 1), "padding": (1, 2), "groups": 1, "dilation": (1, 2)}),
        Layer("sn", "neuron", (4, 4, 6), (1,), neuron=fx.LifParams(), bias=np.array([3, -2, 0, 5])),
        Layer("dw", "conv", (4, 4, 6), (2,), weight=w(4, 1, 3, 3), attrs={"padding": 1, "groups": 4}),
        Layer("pw", "conv", (8, 4, 6), (3,), weight=w(8, 4, 1, 1), bias=np.arange(8),
              neuron=fx.LifParams(vth_mant=90, i_decay=1000, v_decay=300)),
        Layer("a", "conv", (8, 4, 6), (4,), weight=w(8, 8, 1, 1), weight_exp=2),
        Layer("b", "conv", (8, 4, 6), (4,), weight=w(8, 8, 3, 3), attrs={"padding": 1}, bias=np.arange(8) * 3),
        Layer("res", "merge", (8, 4, 6), (5, 6)),
        Layer("sn2", "neuron", (8, 4, 6), (7,), neuron=fx.LifParams(vth_mant=40)),
        Layer("pool", "pool", (8, 2, 3), (8,), weight=np.full((1, 1, 2, 2), 96), neuron=fx.LifParams(vth_mant=100)),
        Layer("c", "conv", (8, 2, 3), (9,), weight=w(8, 8, 1, 1)),
        Layer("mean", "mean", (8, 1, 1), (10,), attrs={"scale_mant": 10923, "scale_shift": 16}),
        Layer("fc", "dense", (6, 1, 1), (11,), weight=w(6, 8), neuron=fx.LifParams(vth_mant=20),
              delay=np.array([0, 1, 2, 0, 3, 1])),
        Layer("rnn", "dense_rec", (6, 1, 1), (12,), weight=w(6, 6), neuron=fx.LifParams(vth_mant=30),
              attrs={"weight_rec": w(6, 6)}),
        Layer("avg", "average", (3, 1, 1), (13,)),
        Layer("head", "dense", (3, 1, 1), (14,), weight=w(3, 3), weight_exp=-3),
    ]
    return Network(layers, timesteps=5, meta={"input": "frames"}).validate()


def assert_same_network(a, b):
    """Weights, neuron arithmetic, graph and geometry identical (NetX's keys that
    change nothing, `netx`, and `meta` are not NIR's; a bias of zeros is no bias)."""
    assert a.timesteps == b.timesteps and len(a.layers) == len(b.layers)
    for x, y in zip(a.layers, b.layers):
        assert (x.name, x.type, tuple(x.shape), tuple(x.inputs)) == (y.name, y.type, tuple(y.shape), tuple(y.inputs))
        assert x.weight_exp == y.weight_exp, x.name
        for arr in ("weight", "bias"):
            u, v = (None if arr == "bias" and z is not None and not z.any() else z
                    for z in (getattr(x, arr), getattr(y, arr)))
            assert (u is None) == (v is None) and (u is None or np.array_equal(u, v)), (x.name, arr)
        if x.type == "conv":
            assert geometry(x) == geometry(y), x.name
        elif x.type == "pool":
            assert spec(x).window(x) == spec(y).window(y), x.name
        elif x.type == "dense_rec":
            assert np.array_equal(x.attrs["weight_rec"], y.attrs["weight_rec"]), x.name
        elif x.type != "input":
            assert x.attrs == y.attrs, x.name
        assert x.attrs.get("value_shift") == y.attrs.get("value_shift")
        assert x.attrs.get("transform") == y.attrs.get("transform")
        assert (x.neuron is None) == (y.neuron is None)
        if x.neuron is not None:
            assert (x.neuron.vth_mant, x.neuron.i_decay, x.neuron.v_decay) == \
                (y.neuron.vth_mant, y.neuron.i_decay, y.neuron.v_decay), x.name
        assert (x.delay is None) == (y.delay is None) and (x.delay is None or np.array_equal(expand(x), expand(y)))


def frames_for(net, n=2, steps=6, seed=0):
    rng = np.random.default_rng(seed)
    hi = 256 if net.graded_input else 2
    return rng.integers(0, hi, (n, *net.layers[0].shape, steps))


def run_probed(net, x):
    probes = {}
    out = Executor(net).run(x, probes)
    return out, probes


@pytest.mark.parametrize("build", [every_type_net, lambda: small_net_without_sdsa()], ids=["every-type", "small"])
def test_round_trip_is_the_same_network_and_the_same_spikes(tmp_path, build):
    net = build()
    write_nir(net, tmp_path / "n.nir", dt=1e-3)
    back, report = read_nir(tmp_path / "n.nir")
    assert report["exact"] and report["dt"] == 1e-3
    assert_same_network(net, back)
    x = frames_for(net)
    out, probes = run_probed(net, x)
    out2, probes2 = run_probed(back, x)
    np.testing.assert_array_equal(out, out2)
    for name, values in probes.items():
        np.testing.assert_array_equal(np.stack(values), np.stack(probes2[name]))
    spiking = [name for name, layer in ((l.name, l) for l in net.layers) if layer.neuron is not None]
    assert all(np.stack(probes[name]).any() for name in spiking)  # the comparison sees spikes


def small_net_without_sdsa():
    """tests/small_nets' network up to its SDSA (v2: no NIR form), with its dense head."""
    net = small_net()
    layers = net.layers[:6] + [Layer("fc", "dense", (3, 1, 1), (5,), weight=net.layers[7].weight)]
    return Network(layers, net.timesteps, net.meta).validate()


@pytest.mark.parametrize("name", ["mnist.net", "tiny.net"])
def test_lava_dl_netx_files_round_trip(tmp_path, name):
    net = read_net(NETX / name)
    write_nir(net, tmp_path / "n.nir")
    back, report = read_nir(tmp_path / "n.nir")
    assert report["exact"]
    assert_same_network(net, back)
    assert set(nir.read(tmp_path / "n.nir").nodes) == set(export_nir(net).nodes)  # NIR's reader, type-checked
    write_net(back, tmp_path / "back.net")  # and the .net file of it reads back the same
    assert_same_network(net, read_net(tmp_path / "back.net"))
    x = np.random.default_rng(1).integers(0, 120, (2, *net.layers[0].shape, 8))
    np.testing.assert_array_equal(Executor(net).run(x), Executor(back).run(x))


def test_exported_graph_is_stock_nir(tmp_path):
    """NIR's own type check passes; the LIF maps onto NIR's parameters as docs/nir.md says."""
    net = every_type_net()
    dt = 1e-3
    g = export_nir(net, dt)
    g.infer_types()
    g.check_types()
    write_nir(net, tmp_path / "n.nir", dt)
    # NIR's own reader takes the file; its type check (nir 1.0.8) wants C_in / groups channels into a
    # grouped Conv2d, so only without it here (test_lava_dl_netx_files_round_trip: with it)
    stock = nir.read(tmp_path / "n.nir", type_check=False)
    assert set(stock.nodes) == set(g.nodes) and sorted(stock.edges) == sorted(g.edges)
    cuba = g.nodes["pw.neuron"]
    assert isinstance(cuba, nir.CubaLIF)
    np.testing.assert_allclose(cuba.tau_syn, dt * 4096 / 1000)
    np.testing.assert_allclose(cuba.tau_mem, dt * 4096 / 300)
    np.testing.assert_allclose(cuba.w_in, 4096 / 1000)
    np.testing.assert_allclose(cuba.r, 4096 / 300)
    np.testing.assert_allclose(cuba.v_threshold, 90 / 64)
    np.testing.assert_allclose(cuba.v_leak[:, 0, 0], np.arange(8) / 64 * 4096 / 300)
    assert not cuba.v_reset.any()
    assert isinstance(g.nodes["sn"], nir.LIF)  # full current decay: a LIF
    np.testing.assert_allclose(g.nodes["stem"].weight, net.layers[1].weight * 2.0 ** -1 / 64)
    assert tuple(g.nodes["stem"].stride) == (2, 1) and tuple(g.nodes["stem"].dilation) == (1, 2)
    assert {e for e in g.edges if e[1] == "res"} == {("a", "res"), ("b", "res")}
    np.testing.assert_allclose(g.nodes["input.scale"].scale, 2.0 ** -8)
    assert isinstance(g.nodes["mean"], nir.SumPool2d) and isinstance(g.nodes["fc.delay"], nir.Delay)
    assert {("rnn.neuron", "rnn.rec"), ("rnn.rec", "rnn.neuron")} <= set(g.edges)  # the recurrent edge
    np.testing.assert_allclose(g.nodes["fc.delay"].delay, np.array([0, 1, 2, 0, 3, 1]) * dt)


def test_sdsa_v2_and_other_unsupported_layers_are_named():
    with pytest.raises(NirError, match=r"layer 6 \(attn\): SDSA v2 multiplies two spike signals"):
        export_nir(small_net())


# --- a foreign float graph ------------------------------------------------------

def foreign_graph(weights_exact: bool):
    """Input (1, 8, 8) -> Conv2d -> CubaLIF -> Flatten -> Affine -> CubaLIF, in floats."""
    rng = np.random.default_rng(7)
    w1 = rng.normal(0, 0.6, (4, 1, 3, 3))
    w2 = rng.normal(0, 0.15, (5, 4 * 8 * 8))
    if weights_exact:
        w1, w2 = (np.round(a * 64) / 64 for a in (w1, w2))
    dt = 1e-3
    cuba = lambda shape, th: nir.CubaLIF(  # noqa: E731
        tau_syn=np.full(shape, 4e-3), tau_mem=np.full(shape, 8e-3), r=np.full(shape, 8.0),
        v_leak=np.zeros(shape), v_threshold=np.full(shape, th), w_in=np.full(shape, 4.0))
    nodes = {
        "in": nir.Input(input_type={"input": np.array([1, 8, 8])}),
        "conv": nir.Conv2d(input_shape=(8, 8), weight=w1, stride=1, padding=1, dilation=1, groups=1,
                           bias=np.zeros(4)),
        "lif1": cuba((4, 8, 8), 0.25),
        "flat": nir.Flatten(input_type={"input": np.array([4, 8, 8])}, start_dim=0),
        "fc": nir.Affine(weight=w2, bias=np.zeros(5)),
        "lif2": cuba((5,), 0.75),
        "out": nir.Output(output_type={"output": np.array([5])}),
    }
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names, names[1:]))), dt


def simulate_nir(graph, dt, spikes):
    """NIR's semantics, forward Euler at dt, current of the same step (docs/nir.md),
    in float64, written from NIR's equations alone, for a chain graph listed in
    order. spikes (N, C, H, W, T) -> {node: output (N, ..., T)}."""
    n, steps = spikes.shape[0], spikes.shape[-1]
    out, state = {}, {}

    def window(x, k, stride, pad):  # (N, C, H, W) -> (N, C, kH, kW, H', W') zero-padded patches
        x = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
        h, w = (x.shape[2] - k[0]) // stride[0] + 1, (x.shape[3] - k[1]) // stride[1] + 1
        return np.stack([np.stack([x[:, :, i:i + stride[0] * h:stride[0], j:j + stride[1] * w:stride[1]]
                                   for j in range(k[1])], 2) for i in range(k[0])], 2)

    def fire(name, v, node):
        z = v > node.v_threshold
        return z.astype(np.float64), np.where(z, node.v_reset, v)
    for t in range(steps):
        x = spikes[..., t].astype(np.float64)
        for name, node in graph.nodes.items():
            if isinstance(node, nir.Conv2d):
                k = node.weight.shape[2:]
                pad = tuple(d // 2 for d in k) if node.padding == "same" else tuple(node.padding)
                x = np.einsum("ocij,ncijhw->nohw", node.weight, window(x, k, node.stride, pad)) \
                    + node.bias.reshape(1, -1, 1, 1)
            elif isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
                k = tuple(node.kernel_size)
                x = window(x, k, tuple(node.stride), tuple(node.padding)).sum((2, 3))
                x = x / np.prod(k) if isinstance(node, nir.AvgPool2d) else x
            elif isinstance(node, nir.Flatten):
                x = x.reshape(n, -1)
            elif isinstance(node, (nir.Affine, nir.Linear)):
                x = x.reshape(n, -1) @ node.weight.T + (node.bias if isinstance(node, nir.Affine) else 0)
            elif isinstance(node, nir.Scale):
                x = x * node.scale
            elif isinstance(node, nir.CubaLIF):
                i_syn, v = state.get(name, (np.zeros_like(x), np.zeros_like(x)))
                i_syn = i_syn + dt / node.tau_syn * (-i_syn + node.w_in * x)
                v = v + dt / node.tau_mem * (node.v_leak - v + node.r * i_syn)
                x, v = fire(name, v, node)
                state[name] = (i_syn, v)
            elif isinstance(node, nir.LIF):
                v = state.get(name, np.zeros_like(x))
                x, state[name] = fire(name, v + dt / node.tau * (node.v_leak - v + node.r * x), node)
            elif isinstance(node, nir.IF):
                v = state.get(name, np.zeros_like(x))
                x, state[name] = fire(name, v + dt * node.r * x, node)
            out.setdefault(name, []).append(x)
    return {k: np.stack(v, axis=-1) for k, v in out.items()}


def test_foreign_lif_if_same_padding_avgpool_linear():
    """Input -> LIF (an input neuron: frames are its current), Conv2d 'same' -> IF,
    AvgPool2d, Linear -> LIF: exact numbers import exactly and spike as NIR says."""
    rng = np.random.default_rng(4)
    dt = 1e-3
    full = np.full
    nodes = {
        "in": nir.Input(input_type={"input": np.array([2, 6, 6])}),
        "lif0": nir.LIF(tau=full((2, 6, 6), 4e-3), r=full((2, 6, 6), 4.0), v_leak=np.zeros((2, 6, 6)),
                        v_threshold=full((2, 6, 6), 1.0)),
        "conv": nir.Conv2d(input_shape=(6, 6), weight=np.round(rng.normal(0, 0.7, (3, 2, 3, 3)) * 32) / 32,
                           stride=1, padding="same", dilation=1, groups=1, bias=np.zeros(3)),
        "if": nir.IF(r=full((3, 6, 6), 1 / dt), v_threshold=full((3, 6, 6), 0.5)),
        "avg": nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "flat": nir.Flatten(input_type={"input": np.array([3, 3, 3])}, start_dim=0),
        "fc": nir.Linear(weight=np.round(rng.normal(0, 0.8, (4, 27)) * 64) / 64),
        "lif1": nir.LIF(tau=full(4, 2e-3), r=full(4, 2.0), v_leak=full(4, 0.0625), v_threshold=full(4, 0.5)),
        "out": nir.Output(output_type={"output": np.array([4])}),
    }
    names = list(nodes)
    graph = nir.NIRGraph(nodes=nodes, edges=list(zip(names, names[1:])))
    net, report = import_nir(graph, dt=dt)
    assert report["exact"], report
    assert [(layer.name, layer.type, layer.neuron is not None) for layer in net.layers] == [
        ("in", "input", True), ("conv", "conv", True), ("avg", "pool", False), ("fc", "dense", True)]
    # the frame is the input neuron's current in mantissa units (1/64): the gain (dt/tau) r = 1 is 64 there
    assert net.layers[0].neuron == fx.LifParams(vth_mant=1, i_decay=4096, v_decay=1024)
    assert net.layers[1].neuron.v_decay == 0 and net.layers[1].attrs["padding"] == 1
    np.testing.assert_array_equal(net.layers[3].bias, np.full(4, 2))  # dv v_leak = 1/32: 2 / 64
    x = np.random.default_rng(6).integers(0, 3, (6, 2, 6, 6, 10))
    _, probes = run_probed(net, x)
    ref = simulate_nir(graph, dt, x)
    for layer, node in (("in", "lif0"), ("conv", "if"), ("fc", "lif1")):
        lava = np.stack(probes[layer], axis=-1).reshape(ref[node].shape)
        assert ref[node].mean() > 0.05, node
        assert (lava == ref[node]).mean() >= 0.995, node  # measured 1.0


@pytest.mark.parametrize("exact", [True, False], ids=["dyadic", "gaussian"])
def test_foreign_float_graph_imports_and_runs_as_nir_semantics(tmp_path, exact):
    graph, dt = foreign_graph(exact)
    nir.write(tmp_path / "f.nir", graph)
    net, report = read_nir(tmp_path / "f.nir", dt=dt)
    assert [layer.type for layer in net.layers] == ["input", "conv", "dense"]
    conv, fc = net.layers[1:]
    assert conv.neuron.i_decay == 1024 and conv.neuron.v_decay == 512  # dt/tau = 1/4, 1/8: exact decays
    rows = report["quantization"]
    if exact:  # dyadic weights, gain r w_in dt^2 / (tau_syn tau_mem) = 1: every integer is the float
        assert report["exact"] and rows["conv"]["weight_rel_error"] == 0 and conv.neuron.vth_mant == 16
    else:
        assert not report["exact"]
        assert 0 < rows["conv"]["weight_rel_error"] <= 1 / 127 and 0 < rows["fc"]["weight_rel_error"] <= 1 / 127
        assert conv.neuron.vth_mant == round(16 * rows["conv"]["scaled_by"]) >= 512  # threshold kept precise
        assert rows["conv"]["weight_rel_error"] <= 1 / 254 + 1e-9  # the largest weight on the largest mantissa
    x = (np.random.default_rng(5).random((8, 1, 8, 8, 12)) < 0.4).astype(np.int64)
    _, probes = run_probed(net, x)
    lava = {name: np.stack(probes[name], axis=-1) for name in ("conv", "fc")}
    ref = simulate_nir(graph, dt, x)
    fc = lava["fc"].reshape(8, 5, -1)
    agree = [(lava["conv"] == ref["lif1"]).mean(), (fc == ref["lif2"]).mean()]
    cosine = [_cosine(lava["conv"].sum(-1), ref["lif1"].sum(-1)), _cosine(fc.sum(-1), ref["lif2"].sum(-1))]
    assert ref["lif1"].mean() > 0.02 and ref["lif2"].mean() > 0.1  # both layers fire
    # measured: dyadic agreement 1.0, 1.0; gaussian (8-bit weights, the largest on the largest
    # mantissa) 0.9994, 0.979, cosine of the spike counts 0.9984, 0.9981 (a power-of-two scale alone:
    # 0.9989, 0.946, 0.9974, 0.9934). The integer decays truncate: even the dyadic case is held to margins.
    if exact:
        assert min(agree) >= 0.995 and min(cosine) >= 0.999, (agree, cosine)
    else:
        assert agree[0] >= 0.99 and agree[1] >= 0.9 and min(cosine) >= 0.98, (agree, cosine)


def _cosine(a, b):
    a, b = a.reshape(-1).astype(np.float64), b.reshape(-1).astype(np.float64)
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


def test_imported_foreign_graph_runs_on_the_lava_backends():
    """Quantized once, the imported network is bit-exact on Lava (reference = lava-cpu = fused = decomposed)."""
    from small_nets import assert_backend_equals_reference

    graph, dt = foreign_graph(False)
    net, _ = import_nir(graph, dt=dt, timesteps=6)
    x = (np.random.default_rng(5).random((2, 1, 8, 8, 6)) < 0.4).astype(np.int64)
    for backend in ("lava-cpu", "lava-cpu-fused", "lava-cpu-decomposed"):
        assert_backend_equals_reference(net, backend, x, probe_names=("conv",))


def test_foreign_recurrent_layer_is_dense_rec_with_the_previous_steps_spikes():
    """Input -> Affine -> CubaLIF with an Affine from the CubaLIF back into it (snnTorch's RSynaptic):
    a dense_rec layer; NIR's cycle read as the previous step's spikes."""
    rng = np.random.default_rng(8)
    n, dt = 7, 1e-3
    w, w_rec = (np.round(rng.normal(0, s, shape) * 64) / 64 for s, shape in ((0.6, (n, 12)), (0.5, (n, n))))
    full = lambda v: np.full(n, v)  # noqa: E731
    nodes = {"in": nir.Input(input_type={"input": np.array([12])}),
             "fc": nir.Affine(weight=w, bias=np.zeros(n)),
             "lif": nir.CubaLIF(tau_syn=full(2e-3), tau_mem=full(4e-3), r=full(4.0), v_leak=full(0.0),
                                v_threshold=full(1.0), w_in=full(2.0)),
             "rec": nir.Linear(weight=w_rec), "out": nir.Output(output_type={"output": np.array([n])})}
    edges = [("in", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "out")]
    net, report = import_nir(nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), dt=dt)
    assert report["exact"] and [layer.type for layer in net.layers] == ["input", "dense_rec"]
    np.testing.assert_array_equal(net.layers[1].attrs["weight_rec"] * 2.0 ** net.layers[1].weight_exp, w_rec * 64)
    x = (np.random.default_rng(9).random((4, 12, 1, 1, 16)) < 0.5).astype(np.int64)
    lava = Executor(net).run(x)[:, :, 0, 0]
    i_syn, v, z = np.zeros((4, n)), np.zeros((4, n)), np.zeros((4, n))
    ref = []
    for t in range(x.shape[-1]):
        s = x[:, :, 0, 0, t] @ w.T + z @ w_rec.T  # the recurrent input: the previous step's spikes
        i_syn = i_syn + dt / 2e-3 * (-i_syn + 2.0 * s)
        v = v + dt / 4e-3 * (-v + 4.0 * i_syn)
        z = (v > 1.0).astype(np.float64)
        v = np.where(z > 0, 0.0, v)
        ref.append(z)
    ref = np.stack(ref, axis=-1)
    assert ref.mean() > 0.1 and (lava == ref).mean() >= 0.995  # measured 1.0


def test_foreign_residual_and_bias_into_decaying_current(tmp_path):
    """Two Affines into one CubaLIF (a residual: summed edges) become a merge and a
    neuron layer; a bias into a decaying current keeps its own layer."""
    rng = np.random.default_rng(2)
    shape = (6,)
    cuba = nir.CubaLIF(tau_syn=np.full(shape, 2e-3), tau_mem=np.full(shape, 4e-3), r=np.full(shape, 4.0),
                       v_leak=np.zeros(shape), v_threshold=np.full(shape, 1.0), w_in=np.full(shape, 2.0))
    nodes = {"in": nir.Input(input_type={"input": np.array([10])}),
             "a": nir.Affine(weight=np.round(rng.normal(0, 0.5, (6, 10)) * 64) / 64, bias=np.full(6, 0.25)),
             "b": nir.Affine(weight=np.round(rng.normal(0, 0.5, (6, 10)) * 64) / 64, bias=np.zeros(6)),
             "lif": cuba, "out": nir.Output(output_type={"output": np.array(shape)})}
    edges = [("in", "a"), ("in", "b"), ("a", "lif"), ("b", "lif"), ("lif", "out")]
    net, report = import_nir(nir.NIRGraph(nodes=nodes, edges=edges), dt=1e-3)
    assert [(layer.name, layer.type) for layer in net.layers] == [
        ("in", "input"), ("a", "dense"), ("b", "dense"), ("lif.merge", "merge"), ("lif", "neuron")]
    np.testing.assert_array_equal(net.layers[1].bias, np.full(6, 16))  # 0.25 in 1/64 current units
    assert report["exact"]


# --- bad files and the command line ----------------------------------------------

def _bad_files(tmp_path):
    good, _ = foreign_graph(True)
    nir.write(tmp_path / "good.nir", good)
    cases = {}

    def variant(name, edit):
        path = tmp_path / f"{name}.nir"
        path.write_bytes((tmp_path / "good.nir").read_bytes())
        with h5py.File(path, "r+") as f:
            edit(f["node"])
        cases[name] = path
    (tmp_path / "text.nir").write_text("not hdf5")
    cases["text"] = tmp_path / "text.nir"

    def edges(g, pairs):
        del g["edges"]
        g.create_dataset("edges", data=np.array(pairs, dtype="S"))
    chain = [("in", "conv"), ("conv", "lif1"), ("lif1", "flat"), ("flat", "fc"), ("fc", "lif2"), ("lif2", "out")]
    variant("missing", lambda g: edges(g, chain[:-1] + [("lif2", "ghost")]))
    variant("cycle", lambda g: edges(g, chain + [("flat", "flat")]))
    variant("recurrent", lambda g: edges(g, chain + [("lif1", "conv")]))

    def shape(g):
        del g["nodes/fc/weight"]
        g["nodes/fc"].create_dataset("weight", data=np.zeros((5, 7)))
    variant("shape", shape)

    def nan(g):
        g["nodes/lif1/tau_mem"][0, 0, 0] = np.nan
    variant("nan", nan)

    def unknown(g):
        del g["nodes/lif2/type"]
        g["nodes/lif2"].create_dataset("type", data="Transformer")
    variant("unknown", unknown)

    def li(g):
        sub = g["nodes"].create_group("li")
        sub.create_dataset("type", data="Threshold")  # a NIR node lava-msf does not import
        sub.create_dataset("threshold", data=np.ones(5))
        edges(g, chain[:-1] + [("lif2", "li"), ("li", "out")])
    variant("unsupported", li)
    return cases


@pytest.mark.parametrize("case, words", [
    ("text", ["not an HDF5 file"]), ("missing", ["names no node 'ghost'"]),
    ("cycle", ["'flat'", "algebraic loop"]), ("recurrent", ["'lif1'", "recurrence as an Affine"]),
    ("shape", ["'fc'", "weight (5, 7) does not fit"]), ("nan", ["'lif1'", "tau_mem", "NaN"]),
    ("unknown", ["'lif2'", "not a NIR 1.0 node type"]), ("unsupported", ["unsupported NIR nodes: li (Threshold)"])])
def test_bad_nir_files_exit_2_with_one_line(tmp_path, capsys, case, words):
    path = _bad_files(tmp_path)[case]
    assert main(["import-nir", str(path), "--out", str(tmp_path / "x.net")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lava-msf: error:"), err
    for word in words:
        assert word in err[0]
    assert not (tmp_path / "x.net").exists()


def test_mutated_nir_files_fail_only_with_typed_errors(tmp_path):
    """Every dataset of an exported file replaced by a wrong value, shape, type or nothing: a
    LavaMsfError (one line at the CLI), never another exception or a numpy warning."""
    import warnings

    from lava_msf.errors import LavaMsfError

    write_nir(every_type_net(), tmp_path / "good.nir")
    with h5py.File(tmp_path / "good.nir", "r") as f:
        names = []
        f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    rng = np.random.default_rng(11)
    bad = [np.float64(-2.5), np.float64(1e300), np.zeros((0,)), np.zeros((2, 3, 1)), "same", None]
    names, refused = [n for n in names if n != "version"], 0  # `version`: nothing reads it
    for k, name in enumerate(rng.choice(names, 40, replace=False)):
        path = tmp_path / f"m{k}.nir"
        path.write_bytes((tmp_path / "good.nir").read_bytes())
        value = bad[rng.integers(len(bad))]
        with h5py.File(path, "r+") as f:
            parent, key = name.rsplit("/", 1)
            del f[name]
            if value is not None:
                f[parent].create_dataset(key, data=value)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            try:
                read_nir(path)
            except LavaMsfError:
                refused += 1
    assert refused >= 20  # most are wrong for what they are; metadata hints that are not hints pass


def test_cli_export_and_import(tmp_path, capsys):
    net = every_type_net()
    write_net(net, tmp_path / "a.net")
    assert main(["export-nir", str(tmp_path / "a.net"), "--out", str(tmp_path / "a.nir"), "--dt", "0.002"]) == 0
    assert main(["import-nir", str(tmp_path / "a.nir"), "--out", str(tmp_path / "b.net"), "--json"]) == 0
    result = __import__("json").loads(capsys.readouterr().out.split("\n", 1)[1])
    assert result["exact"] and result["dt"] == 0.002 and result["layers"] == len(net.layers)
    assert set(result["quantization"]) == {layer.name for layer in net.layers if layer.weight is not None}
    assert_same_network(net, read_net(tmp_path / "b.net"))
    assert main(["export-nir", str(tmp_path / "b.net"), "--out", str(tmp_path / "c.nir")]) == 0
    assert read_nir(tmp_path / "c.nir")[1]["dt"] == 0.002  # an imported network keeps its dt
    assert main(["export-nir", str(tmp_path / "b.net"), "--out", str(tmp_path / "b.net")]) == 2  # input = output
    write_net(small_net(), tmp_path / "s.net")
    assert main(["export-nir", str(tmp_path / "s.net"), "--out", str(tmp_path / "s.nir")]) == 2
    assert "attn" in capsys.readouterr().err and not (tmp_path / "s.nir").exists()
