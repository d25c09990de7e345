"""The dense-prediction layer types NetX refuses (pool, convT, unpool, concat):
the reference against sums written out here, the torch backend, Lava's
backends bit-exactly, lava-dl SLAYER's own export of its blocks, the file
round trip and its bad keys, `inspect` and `report` counts."""

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lava_msf import fixedpoint as fx
from lava_msf.analysis.energy import energy, layer_flops, measure_rates
from lava_msf.chip.loihi2 import LOIHI2
from lava_msf.chip.report import inspect_network
from lava_msf.errors import GraphError
from lava_msf.export.torch_backend import TorchBackend
from lava_msf.graph import Layer, Network
from lava_msf.layers import spec
from lava_msf.netfile import NetFileError, read_net, write_net
from lava_msf.reference import Executor, NumpyBackend
from lava_msf.runtime import LavaRunner

from small_nets import put_key

RNG = np.random.default_rng(4)
NS = {"stride": (2, 1), "padding": (1, 0), "dilation": (1, 2)}  # a geometry whose axes differ


def even(*shape, lo=-40, hi=60):
    return RNG.integers(lo, hi, shape) * 2


def mixed(*shape):
    """Even weights whose signs alternate, so that sums of either sign occur whatever RNG's state."""
    return even(*shape, lo=1) * np.resize([-1, 1], shape)


def hand_pool(x, w, stride, pad, dil):
    """x (C, H, W), kernel w (k, k) on every channel: loops over outputs and taps."""
    c, h, wd = x.shape
    k = w.shape[0]
    ho, wo = (h + 2 * pad - dil * (k - 1) - 1) // stride + 1, (wd + 2 * pad - dil * (k - 1) - 1) // stride + 1
    out = np.zeros((c, ho, wo), dtype=np.int64)
    for ch in range(c):
        for oy in range(ho):
            for ox in range(wo):
                for j in range(k):
                    for i in range(k):
                        y, xx = oy * stride - pad + j * dil, ox * stride - pad + i * dil
                        if 0 <= y < h and 0 <= xx < wd:
                            out[ch, oy, ox] += w[j, i] * x[ch, y, xx]
    return out


def hand_conv_transpose(x, w, stride, pad, dil, groups):
    """x (C, H, W), w (C, O/groups, k, k): every input pixel scatters its kernel."""
    c, h, wd = x.shape
    og, k = w.shape[1], w.shape[2]
    ho, wo = (h - 1) * stride - 2 * pad + dil * (k - 1) + 1, (wd - 1) * stride - 2 * pad + dil * (k - 1) + 1
    out = np.zeros((og * groups, ho, wo), dtype=np.int64)
    for ci in range(c):
        g = ci // (c // groups)
        for y in range(h):
            for xx in range(wd):
                for j in range(k):
                    for i in range(k):
                        oy, ox = y * stride - pad + j * dil, xx * stride - pad + i * dil
                        if 0 <= oy < ho and 0 <= ox < wo:
                            out[g * og:(g + 1) * og, oy, ox] += w[ci, :, j, i] * x[ci, y, xx]
    return out


def synapse_net():
    """Every new type straight on integer frames, with stride, padding,
    dilation, groups, exponents and biases; concat of two spike layers."""
    c = 3
    layers = [
        Layer("in", "input", (c, 7, 7)),
        Layer("pool", "pool", (c, 4, 4), (0,), weight=even(1, 1, 3, 3), weight_exp=1,
              attrs={"stride": 2, "padding": 1}),
        Layer("pool_d", "pool", (c, 7, 7), (0,), weight=even(1, 1, 2, 2), bias=RNG.integers(-9, 9, c),
              attrs={"stride": 1, "padding": 1, "dilation": 2}),
        Layer("up", "convT", (4, 15, 15), (0,), weight=even(c, 4, 3, 3), weight_exp=-2,
              attrs={"stride": 2, "padding": 1, "dilation": 2}),
        Layer("up_g", "convT", (6, 20, 20), (0,), weight=even(c, 2, 2, 2), attrs={"stride": 3, "groups": 3}),
        Layer("unpool", "unpool", (c, 14, 14), (0,), weight=even(1, 1, 2, 2), attrs={"stride": 2}),
        Layer("unpool_p", "unpool", (c, 13, 13), (0,), weight=even(1, 1, 3, 3), weight_exp=-1,
              attrs={"stride": 2, "padding": 1}),
        Layer("sn", "neuron", (c, 7, 7), (2,), neuron=fx.LifParams(vth_mant=60)),
        Layer("c", "conv", (2, 7, 7), (0,), neuron=fx.LifParams(vth_mant=40), weight=even(2, c, 1, 1, lo=0)),
        Layer("cat", "concat", (c + 2, 7, 7), (7, 8)),
    ]
    return Network(layers, timesteps=3, meta={"input": "frames"}).validate()


def fpn_net():
    """A small FPN-like head: stem, pooled level (with neuron), a current into
    convT, an unpool of the pooled spikes and the stem's spikes, concatenated
    across three latencies, then a dilated pool and a grouped, strided convT."""
    lif = fx.LifParams
    layers = [
        Layer("input", "input", (2, 8, 8)),
        Layer("stem", "conv", (4, 8, 8), (0,), neuron=lif(), weight=even(4, 2, 3, 3), attrs={"padding": 1}),
        Layer("pool", "pool", (4, 4, 4), (1,), neuron=lif(), weight=np.full((1, 1, 2, 2), 64), attrs={"stride": 2}),
        Layer("lateral", "conv", (6, 4, 4), (2,), weight=even(6, 4, 3, 3), attrs={"padding": 1}),
        Layer("up", "convT", (4, 8, 8), (3,), neuron=lif(), weight=even(6, 4, 2, 2), attrs={"stride": 2}),
        Layer("unpool", "unpool", (4, 8, 8), (2,), neuron=lif(), weight=np.full((1, 1, 2, 2), 64),
              attrs={"stride": 2}),
        Layer("cat", "concat", (12, 8, 8), (4, 5, 1)),
        Layer("pool2", "pool", (12, 8, 8), (6,), weight=np.full((1, 1, 3, 3), 32),
              attrs={"stride": 1, "padding": 2, "dilation": 2}),
        Layer("out", "convT", (4, 15, 15), (7,), weight=even(12, 2, 3, 3), bias=RNG.integers(-30, 30, 4),
              attrs={"stride": 2, "padding": 1, "groups": 2}),
    ]
    return Network(layers, timesteps=4, meta={"input": "frames"}).validate()


def run_reference(net, frames, backend=None):
    probes = {}
    if backend is None:
        out = Executor(net).run(frames, probes)
        return out, {k: np.stack(v, axis=-1) for k, v in probes.items()}
    out = Executor(net, backend).run(torch.as_tensor(frames), probes)
    return out.numpy(), {k: torch.stack(v, dim=-1).numpy() for k, v in probes.items()}


def test_reference_equals_the_sums_written_out():
    net = synapse_net()
    frames = RNG.integers(0, 4, (2, 3, 7, 7, 3))
    _, probes = run_reference(net, frames)
    by = {layer.name: layer for layer in net.layers}
    for n in range(2):
        for t in range(3):
            x = frames[n, ..., t]

            def expect(name, value):
                layer = by[name]
                bias = 0 if layer.bias is None or layer.neuron is not None else layer.bias[:, None, None]
                np.testing.assert_array_equal(probes[name][n, ..., t],
                                              fx.saturate_synapse(fx.shift(value, layer.weight_exp) + bias))

            expect("pool", hand_pool(x, by["pool"].weight[0, 0], 2, 1, 1))
            expect("pool_d", hand_pool(x, by["pool_d"].weight[0, 0], 1, 1, 2))
            expect("up", hand_conv_transpose(x, by["up"].weight, 2, 1, 2, 1))
            expect("up_g", hand_conv_transpose(x, by["up_g"].weight, 3, 0, 1, 3))
            for name, pad in (("unpool", 0), ("unpool_p", 1)):
                w = np.repeat(by[name].weight, 3, axis=0)  # one kernel per channel, groups = channels
                expect(name, hand_conv_transpose(x, w, 2, pad, 1, 3))
            np.testing.assert_array_equal(probes["cat"][n, ..., t],
                                          np.concatenate([probes["sn"][n, ..., t], probes["c"][n, ..., t]]))
    assert probes["up"].min() < 0 < probes["up"].max()
    assert 0 < probes["cat"].mean() < 1


@pytest.mark.parametrize("make", [synapse_net, fpn_net])
def test_torch_backend_equals_numpy_backend(make):
    net = make()
    frames = (RNG.random((2, *net.layers[0].shape, net.timesteps)) < 0.4).astype(np.int64)
    out, probes = run_reference(net, frames)
    out_t, probes_t = run_reference(net, frames, TorchBackend)
    np.testing.assert_array_equal(out_t, out)
    assert probes_t.keys() == probes.keys()
    for name in probes:
        np.testing.assert_array_equal(probes_t[name], probes[name], err_msg=name)


@pytest.mark.parametrize("backend", ["lava-cpu", "lava-cpu-decomposed", "lava-cpu-fused"])
def test_lava_backends_equal_reference(backend):
    net = fpn_net()
    frames = (RNG.random((2, 2, 8, 8, net.timesteps)) < 0.4).astype(np.int64)
    ref, probes = run_reference(net, frames)
    names = [] if backend == "lava-cpu-fused" else ["pool", "up", "unpool", "cat", "pool2"]
    with LavaRunner(net, backend, batch_samples=2, probes=names) as runner:
        out, lava_probes = runner.run(frames)
    for name in ("pool", "up", "unpool", "cat"):
        assert 0 < probes[name].mean() < 1, name  # the spike layers spike, not always
    assert ref.min() < 0 < ref.max()
    np.testing.assert_array_equal(out, ref)
    for name in names:
        np.testing.assert_array_equal(lava_probes[name], probes[name], err_msg=name)


def test_float_backend_equals_reference_where_nothing_rounds():
    """lava-cpu-float in real arithmetic: spikes in, weight exponents 0, no
    voltage decay: nothing rounds, so it must give the integers."""
    plain = fx.LifParams(vth_mant=64, v_decay=0)
    layers = [Layer("in", "input", (2, 6, 6)),
              Layer("pool", "pool", (2, 3, 3), (0,), neuron=plain, weight=np.full((1, 1, 2, 2), 40)),
              Layer("up", "convT", (3, 6, 6), (1,), neuron=plain, weight=even(2, 3, 2, 2, lo=-10),
                    attrs={"stride": 2}),
              Layer("unpool", "unpool", (2, 6, 6), (1,), neuron=plain, weight=np.full((1, 1, 2, 2), 70)),
              Layer("c", "conv", (2, 6, 6), (0,), neuron=plain, weight=even(2, 2, 1, 1, lo=10)),
              Layer("cat", "concat", (7, 6, 6), (2, 3, 4)),  # c arrives a step early: DelaySparse
              Layer("out", "convT", (2, 11, 8), (5,), weight=even(7, 2, 3, 2), bias=RNG.integers(-5, 5, 2),
                    attrs=NS)]  # non-square
    net = Network(layers, timesteps=4).validate()
    frames = (RNG.random((2, 2, 6, 6, 4)) < 0.5).astype(np.int64)
    ref, probes = run_reference(net, frames)
    with LavaRunner(net, "lava-cpu-float", batch_samples=2) as runner:
        out, _ = runner.run(frames)
    assert 0 < probes["cat"].mean() < 1 and ref.any()
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, ref.astype(np.float64))


SLAYER_BLOCKS = {  # (Pool, ConvT, Unpool arguments), the input, the shapes and the convT's attrs read back
    "square": ((2,), (2, 4, 3, {"stride": 2, "padding": 1, "dilation": 2, "groups": 2}), (2,), (2, 8, 8),
               [(2, 4, 4), (4, 9, 9), (4, 18, 18)]),
    "nonsquare": (((3, 2),), (2, 4, (3, 2), {"stride": (2, 1), "padding": (1, 0), "dilation": (1, 2), "groups": 2}),
                  ((2, 3),), (2, 9, 8), [(2, 3, 4), (4, 5, 6), (4, 10, 18)]),
}


@pytest.mark.parametrize("kind", SLAYER_BLOCKS)
def test_lava_dl_export_of_slayer_blocks_reads_with_slayer_semantics(tmp_path, kind):
    """lava-dl SLAYER's Pool, ConvT and Unpool blocks written by their own
    export_hdf5: lava-msf reads the file, and each layer's current for a spike
    input is SLAYER's synapse output in weight-mantissa units (x 64)."""
    from lava.lib.dl import slayer

    pool, (c_in, c_out, k, geometry), unpool, shape, shapes = SLAYER_BLOCKS[kind]
    torch.manual_seed(1)
    neuron = {"threshold": 1.25, "current_decay": 0.25, "voltage_decay": 0.03, "tau_grad": 0.03,
              "scale_grad": 3, "requires_grad": False}
    blocks = torch.nn.ModuleList([
        slayer.block.cuba.Pool(neuron, *pool),
        slayer.block.cuba.ConvT(neuron, c_in, c_out, k, **geometry, weight_scale=3),
        slayer.block.cuba.Unpool(neuron, *unpool),
    ])
    path = tmp_path / "slayer.net"
    with h5py.File(path, "w") as f:
        group = f.create_group("layer")
        with torch.no_grad():
            x = torch.zeros(1, *shape, 1)
            for i, block in enumerate(blocks):
                x = block(x)
                block.export_hdf5(group.create_group(str(i)))
    net = read_net(path, input_shape=shape)
    assert [(layer.type, layer.shape) for layer in net.layers] == [
        ("input", shape), ("pool", shapes[0]), ("convT", shapes[1]), ("unpool", shapes[2])]
    assert net.layers[2].attrs == geometry
    assert net.layers[1].neuron.vth_mant == 80 and (net.layers[1].weight == 64).all()
    for i, block in enumerate(blocks, start=1):
        spikes = (torch.rand(2, *net.layers[i - 1].shape, 3) < 0.4).float()
        with torch.no_grad():
            expected = (block.synapse(spikes) * 64).round().long().numpy()
        ours = net.layers[i]
        current = spec(ours).synapse(ours, ours.weight, NumpyBackend)
        got = np.stack([current(spikes[..., t].long().numpy()) for t in range(3)], axis=-1)
        assert np.abs(expected).max() > 0
        np.testing.assert_array_equal(got, expected, err_msg=ours.type)


def test_file_round_trip_with_lava_dl_key_names(tmp_path):
    net = fpn_net()
    path = tmp_path / "fpn.net"
    write_net(net, path)
    with h5py.File(path, "r") as f:
        keys = {layer.name: set(f[f"layer/{i}"].keys()) for i, layer in enumerate(net.layers)}
    window = {"type", "shape", "weight", "wgtExp", "kernelSize", "stride", "padding", "dilation"}
    assert keys["pool"] == window | {"neuron"}  # the previous layer: no 'inputs', as NetX wires it
    assert keys["unpool"] == window | {"inputs", "neuron"}
    assert keys["out"] == window | {"bias", "inChannels", "outChannels", "groups"}
    assert keys["cat"] == {"type", "shape", "inputs"}
    back = read_net(path)
    for a, b in zip(net.layers, back.layers):
        assert (a.name, a.type, a.shape, a.inputs, a.neuron, a.weight_exp) == \
               (b.name, b.type, b.shape, b.inputs, b.neuron, b.weight_exp)
        assert {k: int(v) for k, v in a.attrs.items()} == {k: v for k, v in b.attrs.items() if k in a.attrs}
        for x, y in ((a.weight, b.weight), (a.bias, b.bias)):
            assert (x is None) == (y is None) and (x is None or np.array_equal(x, y))
    frames = (RNG.random((1, 2, 8, 8, 4)) < 0.4).astype(np.int64)
    np.testing.assert_array_equal(Executor(back).run(frames), Executor(net).run(frames))


def _set(key, value):
    return lambda g: put_key(g, key, value)


BAD = [  # (layer type, edit of its group, words of the error)
    ("pool", _set("kernelSize", [3, 3]), ["'kernelSize'", "does not match"]),
    ("pool", _set("kernelSize", [2, 3]), ["'kernelSize'", "does not match"]),
    ("pool", _set("padding", [5, 5]), ["'padding'", "at most dilation"]),
    ("pool", _set("padding", [1, 2]), ["'padding'", "at most dilation"]),
    ("pool", _set("dilation", [0, 0]), ["'dilation'", "(y, x) pair in 1.."]),
    ("pool", _set("stride", [2, 0]), ["'stride'", "(y, x) pair in 1.."]),
    ("pool", _set("stride", [-1, 2]), ["'stride'", "(y, x) pair in 1.."]),
    ("pool", _set("stride", [2, 2, 2]), ["'stride'", "(y, x) pair"]),
    ("pool", _set("weight", np.full((2, 1, 2, 2), 64)), ["(1, 1, kH, kW)"]),
    ("pool", _set("weight", np.full((1, 1, 2), 64)), ["'weight'", "4-D"]),
    ("pool", lambda g: (_set("weight", np.full((1, 1, 9, 2), 64))(g), _set("kernelSize", None)(g)),
     ["'kernelSize' larger than the padded input"]),
    ("pool", _set("stride", [2, 1]), ["output size", "stride (2, 1)"]),
    ("pool", _set("delay", np.zeros(4)), ["unexpected key 'delay'"]),
    ("pool", _set("weight", np.full((1, 1, 2, 2), 300)), ["integers in [-256, 255]"]),
    ("convT", _set("inChannels", 7), ["'inChannels'", "does not match"]),
    ("convT", _set("outChannels", 5), ["'outChannels'", "does not match"]),
    ("convT", _set("groups", 13), ["'groups'", "outside"]),
    ("convT", lambda g: (_set("outChannels", None)(g), _set("groups", 3)(g)), ["does not fit"]),
    ("convT", _set("stride", [3, 3]), ["output size"]),
    ("convT", _set("stride", [0, 2]), ["'stride'", "(y, x) pair in 1.."]),
    ("convT", _set("padding", [1, 3]), ["'padding'", "at most dilation"]),
    ("convT", _set("weight", np.zeros((12, 2, 3), dtype=np.int64)), ["'weight'", "4-D"]),
    ("convT", _set("weight", None), ["missing key 'weight'"]),
    ("unpool", _set("weight", np.full((4, 1, 2, 2), 64)), ["(1, 1, kH, kW)"]),
    ("unpool", _set("groups", 1), ["unexpected key 'groups'"]),
    ("unpool", _set("stride", [1 << 20, 1 << 20]), ["'stride'", "(y, x) pair in 1.."]),
    ("concat", _set("shape", [13, 8, 8]), ["not the sum"]),
    ("concat", _set("inputs", [4, 3]), ["concatenates spikes", "lateral"]),
    ("concat", _set("weight", [1]), ["unexpected key 'weight'"]),
]


@pytest.mark.parametrize("kind,edit,words", BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_bad_keys_are_one_error_naming_file_layer_and_key(tmp_path, kind, edit, words):
    net = fpn_net()
    path = tmp_path / "bad.net"
    write_net(net, path)
    index = [layer.type for layer in net.layers].index(kind)
    with h5py.File(path, "r+") as f:
        edit(f[f"layer/{index}"])
    with pytest.raises(NetFileError) as info:
        read_net(path)
    msg = str(info.value)
    assert str(path) in msg and f"layer {index}" in msg and "\n" not in msg
    for w in words:
        assert w in msg, msg


def test_inspect_and_report_count_by_hand():
    net = fpn_net()
    rows = {x["name"]: x for x in inspect_network(net, LOIHI2)["layers"]}
    # pool 2x2 stride 2 on (4, 8, 8): each input once, 4 taps per output
    assert (rows["pool"]["synapses"], rows["pool"]["fan_in"], rows["pool"]["fan_out"]) == (4 * 64, 4, 1)
    assert rows["pool"]["neurons"] == 4 * 16 and rows["pool"]["current_bound"] == 4 * 64
    # convT 6 -> 4, 2x2 stride 2 on 4x4: every input reaches 4 outputs of each of 4 channels
    assert (rows["up"]["synapses"], rows["up"]["fan_in"], rows["up"]["fan_out"]) == (6 * 4 * 16 * 4, 6, 16)
    # unpool 2x2 stride 2: one tap per output, 4 outputs per input, per channel
    assert (rows["unpool"]["synapses"], rows["unpool"]["fan_in"], rows["unpool"]["fan_out"]) == (4 * 64, 1, 4)
    # concat: one identity synapse and one relay neuron per output
    assert (rows["cat"]["neurons"], rows["cat"]["synapses"], rows["cat"]["current_bound"]) == (768, 768, 1)
    # dilated 3x3 pool, padding 2 on 8x8: taps per axis inside the input 2+2+3+3+3+3+2+2 = 20
    assert (rows["pool2"]["synapses"], rows["pool2"]["fan_in"]) == (12 * 20 * 20, 9)
    assert rows["pool2"]["current_bound"] == 9 * 32
    flops = {layer.name: layer_flops(net, i) for i, layer in enumerate(net.layers)}
    assert (flops["pool"], flops["up"], flops["unpool"], flops["cat"]) == (64 * 4, 16 * 6 * 4 * 4, 64 * 4, 0)
    assert flops["out"] == 64 * 12 * 2 * 9 and net.latencies() == [0, 1, 2, 3, 4, 3, 5, 6, 7]
    frames = (RNG.random((2, 2, 8, 8, 4)) < 0.4).astype(np.int64)
    rows = {r["name"]: r for r in energy(net, measure_rates(net, frames, progress=False)["rates"])["layers"]}
    assert list(rows) == ["stem", "pool", "lateral", "up", "unpool", "pool2", "out"]  # concat does no operation
    assert rows["up"]["driven_by"] == ["pool"] and rows["out"]["driven_by"] == ["cat"]
    assert rows["pool2"]["flops"] == flops["pool2"] and 0 < rows["pool2"]["input_rate"] < 1


# --- non-square geometry: every (y, x) pair differs between the axes, odd sizes

def nonsquare_net():
    """Straight on integer frames (C, 7, 5): pools, transposed convs and unpools
    whose kernel, stride, padding and dilation differ per axis, with groups,
    exponents and a bias; then a spiking pool into a spiking grouped convT."""
    c, lif = 4, fx.LifParams
    layers = [
        Layer("in", "input", (c, 7, 5)),
        Layer("pool", "pool", (c, 4, 3), (0,), weight=mixed(1, 1, 3, 2), weight_exp=1, attrs=NS),
        Layer("pool_avg", "pool", (c, 4, 2), (0,), weight=np.full((1, 1, 2, 3), 32), attrs={"padding": 1}),
        Layer("up", "convT", (6, 13, 7), (0,), weight=even(c, 3, 3, 2), bias=RNG.integers(-9, 9, 6),
              attrs={**NS, "groups": 2}),
        Layer("unpool", "unpool", (c, 14, 15), (0,), weight=np.full((1, 1, 2, 3), 64)),  # stride: the kernel
        Layer("unpool_d", "unpool", (c, 7, 10), (0,), weight=mixed(1, 1, 2, 2), weight_exp=-1,
              attrs={"stride": (1, 2), "padding": (1, 0), "dilation": (2, 1)}),
        Layer("sn_pool", "pool", (c, 4, 3), (0,), neuron=lif(vth_mant=90), weight=np.full((1, 1, 3, 2), 64),
              attrs=NS),
        Layer("out", "convT", (4, 9, 3), (6,), neuron=lif(vth_mant=50), weight=even(c, 2, 2, 3, lo=-10),
              attrs={"stride": (2, 1), "padding": (0, 1), "dilation": (2, 1), "groups": 2}),
    ]
    return Network(layers, timesteps=3, meta={"input": "frames"}).validate()


def torch_value(layer, x):
    """The layer's sum for x (N, C, H, W) by torch.nn.functional on integer-valued float64."""
    x = torch.as_tensor(x, dtype=torch.float64)
    w = torch.as_tensor(layer.weight, dtype=torch.float64)
    geo = {k: layer.attrs[k] for k in ("stride", "padding", "dilation") if k in layer.attrs}
    c = x.shape[1]
    if layer.type == "pool":
        geo.setdefault("stride", tuple(w.shape[2:]))
        y = F.conv2d(x, w.expand(c, -1, -1, -1), groups=c, **geo)
    elif layer.type == "unpool":
        geo.setdefault("stride", tuple(w.shape[2:]))
        y = F.conv_transpose2d(x, w.expand(c, -1, -1, -1), groups=c, **geo)
    else:
        y = F.conv_transpose2d(x, w, groups=layer.attrs.get("groups", 1), **geo)
    return y.numpy()


def test_nonsquare_reference_equals_torch_functional():
    net = nonsquare_net()
    frames = RNG.integers(0, 4, (2, 4, 7, 5, 3))
    _, probes = run_reference(net, frames)
    by = {layer.name: layer for layer in net.layers}
    for t in range(3):
        x = frames[..., t]
        for name in ("pool", "pool_avg", "up", "unpool", "unpool_d"):
            layer = by[name]
            bias = 0 if layer.bias is None else layer.bias[:, None, None]
            value = np.rint(torch_value(layer, x)).astype(np.int64)
            np.testing.assert_array_equal(probes[name][..., t],
                                          fx.saturate_synapse(fx.shift(value, layer.weight_exp) + bias), err_msg=name)
        # the same two again by other torch functions: average pooling times the taps, nearest upsampling
        avg = F.avg_pool2d(torch.as_tensor(x, dtype=torch.float64), (2, 3), padding=1, count_include_pad=True) * 6
        np.testing.assert_array_equal(probes["pool_avg"][..., t], np.rint(avg.numpy()).astype(np.int64) * 32)
        near = F.interpolate(torch.as_tensor(x, dtype=torch.float64), scale_factor=(2, 3), mode="nearest")
        np.testing.assert_array_equal(probes["unpool"][..., t], near.numpy().astype(np.int64) * 64)
    for name in ("pool", "up", "unpool_d"):
        assert probes[name].min() < 0 < probes[name].max(), name
    out_t, probes_t = run_reference(net, frames, TorchBackend)
    for name in probes:
        np.testing.assert_array_equal(probes_t[name], probes[name], err_msg=name)
    np.testing.assert_array_equal(probes["out"], run_reference(net, frames)[0])


@pytest.mark.parametrize("backend", ["lava-cpu", "lava-cpu-decomposed", "lava-cpu-fused"])
def test_nonsquare_lava_backends_equal_reference(backend):
    net = nonsquare_net()
    frames = (RNG.random((2, 4, 7, 5, net.timesteps)) < 0.5).astype(np.int64)
    ref, probes = run_reference(net, frames)
    names = [] if backend == "lava-cpu-fused" else [layer.name for layer in net.layers[1:-1]]
    with LavaRunner(net, backend, batch_samples=2, probes=names) as runner:
        out, lava_probes = runner.run(frames)
    for name in ("sn_pool", "out"):
        assert 0 < probes[name].mean() < 1, name  # the spike layers spike, not always
    np.testing.assert_array_equal(out, ref)
    for name in names:
        np.testing.assert_array_equal(lava_probes[name], probes[name], err_msg=name)


def _connectivity(net, i):
    """Layer i's synapses as a 0/1 matrix (outputs x inputs), from torch on unit impulses and all-ones weights."""
    layer, src = net.layers[i], net.layers[net.layers[i].inputs[0]]
    ones = Layer(layer.name, layer.type, layer.shape, layer.inputs, weight=np.ones_like(layer.weight),
                 attrs=layer.attrs)
    eye = np.eye(int(np.prod(src.shape))).reshape(-1, *src.shape)
    return (torch_value(ones, eye).reshape(len(eye), -1).T > 0).astype(np.int64)


def test_nonsquare_inspect_counts_equal_torch_connectivity():
    net = nonsquare_net()
    rows = {x["name"]: x for x in inspect_network(net, LOIHI2)["layers"]}
    for i, layer in enumerate(net.layers[1:], start=1):
        m = _connectivity(net, i)
        if layer.type != "convT":  # pool, unpool: each channel on its own
            c = layer.shape[0]
            blocks = m.reshape(c, m.shape[0] // c, c, m.shape[1] // c).sum(axis=(1, 3))
            assert (blocks == np.diag(np.diag(blocks))).all() and np.diag(blocks).min() > 0, layer.name
        expect = (int(m.sum()), int(m.sum(axis=1).max()), int(m.sum(axis=0).max()))
        assert (rows[layer.name]["synapses"], rows[layer.name]["fan_in"], rows[layer.name]["fan_out"]) == expect, \
            layer.name
    assert layer_flops(net, 3) == 7 * 5 * 4 * 3 * 3 * 2 and layer_flops(net, 1) == 4 * 4 * 3 * 3 * 2


def test_nonsquare_file_round_trip_keeps_pairs(tmp_path):
    net = nonsquare_net()
    path = tmp_path / "ns.net"
    write_net(net, path)
    with h5py.File(path, "r") as f:
        assert f["layer/3/kernelSize"][()].tolist() == [3, 2] and f["layer/3/stride"][()].tolist() == [2, 1]
        assert f["layer/4/stride"][()].tolist() == [2, 3]  # unpool's default stride: the kernel
    back = read_net(path)
    for a, b in zip(net.layers, back.layers):
        assert spec(a).window(a) == spec(b).window(b) if a.type in ("pool", "convT", "unpool") else True, a.name
    assert back.layers[1].attrs == {"stride": (2, 1), "padding": (1, 0), "dilation": (1, 2)}
    frames = (RNG.random((1, 4, 7, 5, 3)) < 0.4).astype(np.int64)
    np.testing.assert_array_equal(Executor(back).run(frames), Executor(net).run(frames))


def _geo(kind, out, kernel, **attrs):
    return Layer("g", kind, out, (0,), weight=np.ones(kernel, np.int64), attrs=attrs)


BAD_GEOMETRY = [  # (input shape, layer, words of the error)
    ((2, 4, 4), _geo("pool", (2, 3, 3), (1, 1, 2, 2), stride=(0, 1)), ["'stride' (0, 1)", "1.."]),
    ((2, 4, 4), _geo("pool", (2, 3, 3), (1, 1, 2, 2), dilation=(1, -2)), ["'dilation' (1, -2)", "1.."]),
    ((2, 4, 4), _geo("pool", (2, 1, 1), (1, 1, 9, 2)), ["'kernelSize' larger than the padded input", "(0, 2)"]),
    ((2, 1, 1), _geo("convT", (2, 1, 1), (2, 2, 3, 3), padding=(2, 0)), ["'padding' crops the whole output"]),
    ((2, 3, 3), _geo("convT", (2, 3, 3), (2, 2, 2, 2), stride=(1, -1)), ["'stride' (1, -1)", "1.."]),
    ((2, 2, 2), _geo("unpool", (2, 4, 6), (1, 1, 2, 3), padding=(0, 3)), ["'padding' (0, 3)", "(kernel - 1)"]),
    ((2, 2, 2), _geo("unpool", (2, 4, 7), (1, 1, 2, 3)), ["output size (4, 7)", "(4, 6)"]),
    ((2, 4, 4), _geo("pool", (2, 2, 2), (1, 1, 2, 2), stride=(1, 2, 3)), ["'stride' (1, 2, 3)", "(y, x) pair"]),
    ((2, 3, 3), _geo("convT", (2, 3, 3), (2, 2, 1, 1), padding=0.5), ["'padding' 0.5", "int or a (y, x)"]),
]


@pytest.mark.parametrize("src,layer,words", BAD_GEOMETRY, ids=[f"{b[1].type}-{i}" for i, b in enumerate(BAD_GEOMETRY)])
def test_bad_geometry_is_one_error_naming_layer_and_key(src, layer, words):
    with pytest.raises(GraphError) as info:
        Network([Layer("in", "input", src), layer], timesteps=1).validate()
    msg = str(info.value)
    assert "layer 1 (g)" in msg and "\n" not in msg
    for w in words:
        assert w in msg, msg
