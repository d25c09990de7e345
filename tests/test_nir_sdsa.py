"""NIR for SDSA's V1 forms and for leaky-integrator readouts (docs/nir.md):
v1_kv and v1_qk export as stock-NIR subgraphs whose import computes the same
spikes as the SDSA layer, every step; v2 is refused in one line; LI / CubaLI
readouts import exactly where they are their input's gain, else one line."""

import copy

import nir
import numpy as np
import pytest

from lava_msf import fixedpoint as fx
from lava_msf.cli import main
from lava_msf.graph import Layer, Network
from lava_msf.netfile import read_net, write_net
from lava_msf.nir import NirError, export_nir, import_nir, read_nir, write_nir
from lava_msf.reference import Executor

from small_nets import assert_backend_equals_reference
from test_nir import assert_same_network

NETX_MODELS = __import__("pathlib").Path(__file__).resolve().parents[1] / "netx_models"
STOCK = {"Input", "Output", "Conv2d", "SumPool2d", "Scale", "LIF", "CubaLIF", "Affine", "Flatten"}


def sdsa_net(variant, heads, hw, v_decay=1024):
    """input -> conv + SN -> Q, K, V (three convs + SN) -> SDSA -> dense head:
    Q, K and V differ, so each AND and each mask sees distinct spikes."""
    rng = np.random.default_rng(11)
    w = lambda *s: rng.integers(-60, 60, s) * 2  # noqa: E731
    c, (h, wd) = 8, hw
    layers = [Layer("input", "input", (2, h, wd)),
              Layer("stem", "conv", (c, h, wd), (0,), weight=w(c, 2, 3, 3), attrs={"padding": 1},
                    neuron=fx.LifParams(vth_mant=40))]
    for name in "qkv":
        layers.append(Layer(name, "conv", (c, h, wd), (1,), weight=w(c, c, 1, 1) + 40, bias=rng.integers(-20, 40, c),
                            neuron=fx.LifParams(vth_mant=64)))
    count = h * wd if variant == "v1_kv" else c // heads  # the most ANDs one attention neuron counts
    layers += [Layer("attn", "sdsa", (c, h, wd), (2, 3, 4), neuron=fx.LifParams(vth_mant=2 * count, v_decay=v_decay),
                     attrs={"variant": variant, "heads": heads, "scale": 3}),
               Layer("fc", "dense", (3, 1, 1), (5,), weight=w(3, c * h * wd))]
    return Network(layers, timesteps=4, meta={"input": "frames"}).validate()


def without_hints(graph):
    """`graph` without lava-msf's metadata: a graph of stock nodes as another tool would write it."""
    nodes = {n: copy.deepcopy(node) for n, node in graph.nodes.items()}
    for node in nodes.values():
        node.metadata = {}
    return nir.NIRGraph(nodes=nodes, edges=list(graph.edges), type_check=False)


@pytest.mark.parametrize("variant, heads, hw", [("v1_kv", 2, (5, 4)), ("v1_kv", 1, (4, 4)),
                                                ("v1_qk", 2, (5, 4)), ("v1_qk", 4, (3, 3))])
def test_v1_sdsa_exports_as_stock_nir_and_imports_to_the_same_spikes(tmp_path, variant, heads, hw):
    """The subgraph lava-msf writes imports as the same sdsa layer (the round trip is the same
    network); without the hints (a foreign tool's copy) as its decomposition, the same spikes."""
    net = sdsa_net(variant, heads, hw)
    write_nir(net, tmp_path / "n.nir", dt=1e-3)
    graph = nir.read(tmp_path / "n.nir", type_check=False)  # NIR's own reader (grouped convs: docs/nir.md)
    assert {type(node).__name__ for node in graph.nodes.values()} <= STOCK
    assert sum(isinstance(n, nir.LIF) and np.all(n.v_threshold == 1.5) for n in graph.nodes.values()) == 2  # ANDs
    back, report = read_nir(tmp_path / "n.nir")
    assert report["exact"]
    assert_same_network(net, back)
    decomposed, report = import_nir(without_hints(graph), dt=1e-3, timesteps=net.timesteps)
    assert report["exact"]
    assert [layer.type for layer in decomposed.layers].count("sdsa") == 0  # stock layers only
    x = np.random.default_rng(2).integers(0, 2, (3, 2, *hw, 7))
    ref, ref_probes, back_probes = {}, {}, {}
    out = Executor(net).run(x, ref)
    np.testing.assert_array_equal(out, Executor(back).run(x, back_probes))
    np.testing.assert_array_equal(out, Executor(decomposed).run(x, ref_probes))
    for name in ("q", "k", "v", "attn"):  # every step, every neuron
        np.testing.assert_array_equal(np.stack(ref[name]), np.stack(back_probes[name]))
        np.testing.assert_array_equal(np.stack(ref[name]), np.stack(ref_probes[name]))
    attention = np.stack(ref_probes["attn.sum"])  # the attention neuron (the count's layer)
    masked = np.stack(ref["q" if variant == "v1_kv" else "v"])
    sdsa = np.stack(ref["attn"])
    assert 0 < attention.mean() < 1 and sdsa.any() and (masked > sdsa).any()  # it masks some spikes, not all


@pytest.mark.parametrize("variant", ["v1_kv", "v1_qk"])
def test_an_altered_sdsa_subgraph_imports_node_by_node(variant):
    """A hinted subgraph that does not compute SDSA exactly is no sdsa layer: the import reads its
    nodes one by one, as NIR says (or refuses them in one line), never taking them for SDSA."""
    def altered(node, change):
        graph = export_nir(sdsa_net(variant, 2, (4, 4)), dt=1e-3)
        change(graph.nodes[f"attn.{node}"])
        return graph

    def set_to(key, value):  # value(old array) -> new array
        return lambda n: setattr(n, key, value(np.asarray(getattr(n, key), dtype=np.float64)))
    count = ("sum.scale", "scale") if variant == "v1_kv" else ("sum", "weight")
    changes = [("and", set_to("v_threshold", lambda v: v * 0.5)), ("q", set_to("weight", lambda v: v * 2)),
               ("broadcast", set_to("bias", lambda v: v + 0.25)), ("attention", set_to("v_leak", lambda v: v + 0.5)),
               (count[0], set_to(count[1], lambda v: v * 1.25))]
    imported = []
    for node, change in changes:
        try:
            back, _ = import_nir(altered(node, change))
        except NirError:
            continue
        assert "sdsa" not in [layer.type for layer in back.layers] and back.layers[-1].name == "fc", node
        imported.append(node)
    assert len(imported) >= 4, imported  # most are graphs the import reads (the decomposition)
    assert [layer.type for layer in import_nir(altered("q", lambda n: None))[0].layers].count("sdsa") == 1


def nir_semantics(graph, i, inputs):
    """NIR's float semantics (forward Euler at the graph's dt, edges into a node
    summed), from NIR's equations alone, of the nodes of layer i (listed in
    order), fed `inputs` {outside node: (T, N, C, H, W)}. Returns {node: (T, ...)}."""
    from numpy.lib.stride_tricks import sliding_window_view

    dt = graph.metadata["lava_msf_dt"]
    mine = [n for n, node in graph.nodes.items() if node.metadata.get("lava_msf_layer") == i]
    out, voltage = {n: [] for n in mine}, {}
    for t in range(len(next(iter(inputs.values())))):
        value = {a: x[t].astype(np.float64) for a, x in inputs.items()}
        for n in mine:
            node, x = graph.nodes[n], sum(value[a] for a, b in graph.edges if b == n)
            if isinstance(node, nir.Conv2d):
                (p0, p1), groups, w = node.padding, node.groups, node.weight
                win = sliding_window_view(np.pad(x, ((0, 0), (0, 0), (p0, p0), (p1, p1))), w.shape[2:], axis=(2, 3))
                cin, cout = x.shape[1] // groups, w.shape[0] // groups
                x = np.concatenate([np.einsum("ocij,nchwij->nohw", w[g * cout:(g + 1) * cout],
                                              win[:, g * cin:(g + 1) * cin]) for g in range(groups)], 1)
                x = x + node.bias.reshape(1, -1, 1, 1)
            elif isinstance(node, nir.SumPool2d):  # over the whole token grid here
                assert tuple(node.kernel_size) == x.shape[2:] and not np.any(node.padding)
                x = x.sum((2, 3), keepdims=True)
            elif isinstance(node, nir.Scale):
                x = x * node.scale
            else:
                v = voltage.get(n, np.zeros_like(x))
                v = v + dt * node.r * x if isinstance(node, nir.IF) else \
                    v + dt / node.tau * (node.v_leak - v + node.r * x)
                x = (v > node.v_threshold).astype(np.float64)
                voltage[n] = np.where(x > 0, node.v_reset, v)
            value[n] = x
            out[n].append(x)
    return {n: np.stack(v) for n, v in out.items()}


@pytest.mark.parametrize("variant, heads, hw", [("v1_kv", 2, (5, 4)), ("v1_qk", 2, (3, 4))])
def test_v1_sdsa_subgraph_in_nirs_own_float_semantics_spikes_as_sdsa(variant, heads, hw):
    """What another framework computes from the subgraph: the same mask spikes (an
    IF attention neuron keeps the floats integers; dt a power of two)."""
    net = sdsa_net(variant, heads, hw, v_decay=0)
    graph = export_nir(net, dt=2.0 ** -10)
    assert isinstance(graph.nodes["attn.attention"], nir.IF)
    x = np.random.default_rng(9).integers(0, 2, (3, 2, *hw, 6))
    probes = {}
    Executor(net).run(x, probes)
    inputs = {f"{name}.neuron": np.stack(probes[name]) for name in "qkv"}
    got = nir_semantics(graph, 5, inputs)
    assert 0 < got["attn.attention"].mean() < 1
    np.testing.assert_array_equal(got["attn"], np.stack(probes["attn"]))


def test_imported_v1_sdsa_runs_the_same_on_lava():
    net = sdsa_net("v1_kv", 2, (3, 3))
    back, _ = import_nir(without_hints(export_nir(net)), timesteps=net.timesteps)  # decomposed
    x = np.random.default_rng(4).integers(0, 2, (2, 2, 3, 3, back.timesteps))
    assert_backend_equals_reference(back, "lava-cpu", x, probe_names=("attn",))


def _active_msf_micro(variant):
    """msf_micro with BatchNorm statistics that keep its stages spiking (an untrained
    model's activity dies out before its SDSA)."""
    import torch

    from lava_msf.export import export_network
    from lava_msf.model import create_model

    torch.manual_seed(0)
    model = create_model("msf_micro", sdsa=variant, timesteps=2)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.05, 0.1)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 1)
    return export_network(model.eval())


def test_msf_micro_v1_kv_through_nir_files_end_to_end(tmp_path, capsys):
    net = _active_msf_micro("v1_kv")
    write_net(net, tmp_path / "m.net")
    assert main(["export-nir", str(tmp_path / "m.net"), "--out", str(tmp_path / "m.nir")]) == 0
    assert main(["import-nir", str(tmp_path / "m.nir"), "--out", str(tmp_path / "back.net")]) == 0
    net, back = read_net(tmp_path / "m.net"), read_net(tmp_path / "back.net")
    x = np.random.default_rng(0).integers(0, 256, (2, *net.layers[0].shape, 4))
    probes, probes2 = {}, {}
    out = Executor(net).run(x, probes)
    np.testing.assert_array_equal(out, Executor(back).run(x, probes2))
    assert_same_network(net, back)  # its SDSA layers too: the round trip is the same network
    attention = [layer.name for layer in net.layers if layer.type == "sdsa"]
    assert len(attention) == 2
    for name in attention:
        spikes = np.stack(probes[name])
        np.testing.assert_array_equal(spikes, np.stack(probes2[name]))
        assert 0 < spikes.mean() < 1
    assert out.any()


def test_shipped_models_are_v2_and_refused_in_one_line(tmp_path, capsys):
    for path in sorted(NETX_MODELS.glob("*.net")):
        assert main(["export-nir", str(path), "--out", str(tmp_path / "x.nir")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("lava-msf: error: layer 39 (stage3.1.sdsa.attention): SDSA v2 ")
        assert "v1_kv and v1_qk forms export" in err[0]
        assert not (tmp_path / "x.nir").exists()


# --- leaky-integrator readouts ---------------------------------------------------

def readout_graph(kind, tau_steps, dt=1e-3):
    """Input (6,) spikes -> Affine -> LIF -> Affine -> LI or CubaLI -> Output."""
    rng = np.random.default_rng(5)
    w1, w2 = rng.integers(-40, 60, (5, 6)) / 64, rng.integers(-64, 64, (3, 5)) / 64
    full = lambda shape, v: np.full(shape, float(v))  # noqa: E731
    lif = nir.LIF(tau=full(5, 4 * dt), r=full(5, 4.0), v_leak=full(5, 0), v_threshold=full(5, 0.5),
                  v_reset=full(5, 0))
    tau, leak = full(3, tau_steps * dt), np.array([0.5, -0.25, 0.0])
    readout = nir.LI(tau=tau, r=full(3, 2.0), v_leak=leak) if kind == "LI" else \
        nir.CubaLI(tau_syn=tau, tau_mem=tau, r=full(3, 0.5), v_leak=leak, w_in=full(3, 4.0))
    nodes = {"in": nir.Input(input_type={"input": np.array([6])}), "fc1": nir.Affine(weight=w1, bias=np.zeros(5)),
             "lif": lif, "fc2": nir.Affine(weight=w2, bias=np.zeros(3)), "readout": readout,
             "out": nir.Output(output_type={"output": np.array([3])})}
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names, names[1:]))), dt, w2, leak


@pytest.mark.parametrize("kind", ["LI", "CubaLI"])
def test_readout_with_tau_dt_is_its_synapses_current_exactly(kind):
    graph, dt, w2, leak = readout_graph(kind, 1)
    net, report = import_nir(graph, dt=dt, timesteps=6)
    assert report["exact"]
    head = net.layers[-1]
    assert (head.name, head.type, head.neuron) == ("fc2", "dense", None)  # the readout folded into it
    np.testing.assert_array_equal(head.weight * 2.0 ** head.weight_exp, 2 * w2 * fx.WEIGHT_SCALE)  # gain 2
    np.testing.assert_array_equal(head.bias, leak * fx.WEIGHT_SCALE)
    x = np.random.default_rng(6).integers(0, 2, (2, 6, 1, 1, 6))
    probes = {}
    out = Executor(net).run(x, probes)
    spikes = np.stack(probes["fc1"])[..., 0, 0].astype(np.float64)  # (T, N, 5)
    assert spikes.any()
    expected = (spikes @ (2 * w2).T + leak) * fx.WEIGHT_SCALE  # NIR's LI at tau = dt: r I + v_leak, mantissas
    np.testing.assert_array_equal(np.moveaxis(out[:, :, 0, 0], -1, 0), expected)


@pytest.mark.parametrize("kind", ["LI", "CubaLI"])
def test_leaky_readout_is_refused_naming_the_node(kind):
    graph, dt, _, _ = readout_graph(kind, 10)
    with pytest.raises(NirError, match=rf"node 'readout' \({kind}\): tau\S* = 0.01 is not dt = 0.001: a leaky "
                                       r"readout integrates over steps"):
        import_nir(graph, dt=dt)


def test_readout_of_spikes_without_a_synapse_is_refused():
    graph, dt, _, _ = readout_graph("LI", 1)
    graph.edges = [("in", "fc1"), ("fc1", "lif"), ("lif", "readout"), ("readout", "out")]
    del graph.nodes["fc2"]
    graph.nodes["readout"] = nir.LI(tau=np.full(5, dt), r=np.ones(5), v_leak=np.zeros(5))
    graph.nodes["out"] = nir.Output(output_type={"output": np.array([5])})
    with pytest.raises(NirError, match=r"node 'readout' \(LI\): lava-msf imports an LI readout only as the sole "
                                       r"consumer of a synapse"):
        import_nir(graph, dt=dt)


def test_a_layer_without_neuron_exports_as_its_synapse_into_output():
    """lava-msf's current readout (a last dense layer without a neuron) is the
    synapse node feeding Output, which the frameworks read; an LI of tau = dt
    after it would be the same, and imports so."""
    net = sdsa_net("v1_kv", 2, (3, 3))
    graph = export_nir(net)
    assert ("fc", "output") in graph.edges and isinstance(graph.nodes["fc"], nir.Affine)
    shape = (3,)
    graph.nodes["fc.li"] = nir.LI(tau=np.full(shape, 1e-4), r=np.ones(shape), v_leak=np.zeros(shape))
    graph.edges = [e for e in graph.edges if e != ("fc", "output")] + [("fc", "fc.li"), ("fc.li", "output")]
    back, report = import_nir(graph)
    assert report["exact"] and back.layers[-1].type == "dense" and back.layers[-1].neuron is None
    x = np.random.default_rng(8).integers(0, 2, (2, 2, 3, 3, 5))
    np.testing.assert_array_equal(Executor(net).run(x), Executor(back).run(x))
