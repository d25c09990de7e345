"""The LIF-family NetX files lava-dl ships (mnist.net, tiny.net,
gts/pilotnet_lif/network.net) read and run on lava-msf bit-exactly like stock
NetX (tests/netx_stock.py), layer by layer, each hop's delay aligned: block k
of NetX emits at Lava step t + k what lava-msf's layer emits at model step t.
NetX runs with its reset_interval (each block reset when its input first
arrives, as lava-msf's layers are); without it a biased NetX neuron integrates
its bias alone during the hops before the input reaches it."""

import json
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lava_msf import intconv
from lava_msf.analysis.energy import energy, measure_rates
from lava_msf.errors import NetFileError
from lava_msf.export.torch_backend import TorchBackend
from lava_msf.fixedpoint import LifParams
from lava_msf.graph import Layer, Network
from lava_msf.layers import spec
from lava_msf.layers.input import transform, transform_frames
from lava_msf.netfile import read_net, write_net
from lava_msf.reference import Executor, NumpyBackend
from lava_msf.runtime import LavaRunner

from netx_stock import netx_file, run_stock
from small_nets import put_key

def shipped(relative, tmp_path):
    """A copy of a file lava-dl ships (tests edit their copy)."""
    path = tmp_path / relative.replace("/", "_")
    shutil.copy(netx_file(relative), path)
    return path


def reference(net, frames):
    """Per layer name its values (C, H, W, T) for one sample (C, H, W, T)."""
    probes = {}
    Executor(net).run(frames[None], probes)
    return {name: np.stack(v, axis=-1)[0] for name, v in probes.items()}


def stock(path, net, frames, **kwargs):
    """Stock NetX on `frames` run long enough for the deepest layer."""
    hops = max(net.latencies())
    padded = np.concatenate([frames, np.zeros((*frames.shape[:-1], hops), frames.dtype)], axis=-1)
    return run_stock(path, padded, reset_interval=padded.shape[-1] + 1, **kwargs)


def current(net, i, ref):
    """Layer i's synaptic current (before its neuron) from its source's values."""
    src = ref[net.layers[net.layers[i].inputs[0]].name]
    op = spec(net.layers[i]).reference(net, i, NumpyBackend)
    return np.stack([op([src[None, ..., t]])[0] for t in range(src.shape[-1])], axis=-1)


def assert_like_stock(net, ref, run, steps):
    """Every NetX block against its lava-msf layer: its output (spikes; a layer
    without a neuron emits its current, where NetX's default neuron never fires)
    and its synapse's current."""
    lat = net.latencies()
    assert len(run.blocks) <= len(net.layers)
    for k, layer in enumerate(net.layers[:len(run.blocks)]):
        window = slice(lat[k], lat[k] + steps)
        if layer.neuron is not None:
            np.testing.assert_array_equal(ref[layer.name], run.outputs[k][..., window], err_msg=layer.name)
        if k:
            np.testing.assert_array_equal(current(net, k, ref), run.currents[k][..., window], err_msg=layer.name)
    assert any(ref[layer.name].any() for layer in net.layers[1:len(run.blocks)])


def assert_backends_equal_reference(net, frames, backends=("lava-cpu", "lava-cpu-fused", "lava-cpu-decomposed")):
    probes = {}
    ref = Executor(net).run(frames, probes)
    names = [layer.name for layer in net.layers[:-1]]
    for backend in backends:
        with LavaRunner(net, backend, batch_samples=len(frames), probes=[] if "fused" in backend else names) as r:
            out, lava_probes = r.run(frames)
        np.testing.assert_array_equal(out, ref, err_msg=backend)
        for name, values in lava_probes.items():
            np.testing.assert_array_equal(values, np.stack(probes[name], axis=-1), err_msg=f"{backend} {name}")
    assert any(np.stack(probes[n], -1).any() for n in names[1:])  # something past the input is compared


# --- the files, against stock NetX ----------------------------------------------

def test_mnist_equals_stock_netx_layer_by_layer_and_on_lava(tmp_path):
    path = shipped("mnist.net", tmp_path)
    net = read_net(path)
    assert [layer.type for layer in net.layers] == ["input", "dense", "dense", "dense"]
    assert net.timesteps == 16 and transform(net.layers[0]) == {"weight": 76, "bias": 64}
    assert net.layers[0].bias is None and net.layers[0].neuron == LifParams(80, 4096, 123)
    assert len({layer.name for layer in net.layers}) == 4
    steps = 4
    frames = np.random.default_rng(1).integers(0, 160, (784, 1, 1, steps))
    assert_like_stock(net, reference(net, frames), stock(path, net, frames), steps)
    net.timesteps = 4
    assert_backends_equal_reference(net, np.random.default_rng(2).integers(0, 160, (2, 784, 1, 1, 4)))


def test_tiny_equals_stock_netx_layer_by_layer_and_on_lava(tmp_path):
    path = shipped("tiny.net", tmp_path)
    net = read_net(path)
    assert net.layers[1].weight.shape == (24, 3, 5, 5)  # the file's (24, 3, 5, 5, 1)
    assert transform(net.layers[0]) == {"weight": 36, "bias": 34}  # lava-dl's test_input_transform
    steps = 4
    frames = np.random.default_rng(3).integers(0, 100, (3, 16, 16, steps))
    assert_like_stock(net, reference(net, frames), stock(path, net, frames), steps)
    net.timesteps = 4
    assert_backends_equal_reference(net, np.random.default_rng(4).integers(0, 100, (2, 3, 16, 16, 4)))


def pilotnet_image():
    """lava-dl's PilotNet input (its transform already applied: 1..76), (C, H, W)."""
    return np.load(netx_file("gts/pilotnet_lif/image.npy")).transpose(2, 1, 0).astype(np.int64)


def test_pilotnet_lif_reads_with_its_geometry_and_runs_on_lava(tmp_path):
    net = read_net(shipped("gts/pilotnet_lif/network.net", tmp_path))
    assert [layer.type for layer in net.layers] == ["input"] + ["conv"] * 5 + ["dense"] * 4  # 'flatten' folded
    assert net.layers[4].attrs["stride"] == (2, 1) and net.layers[4].attrs["padding"] == (1, 0)
    assert net.layers[-1].weight.shape == (1, 10)  # the file's 1-D (10,)
    net.timesteps = 3
    frames = np.repeat(pilotnet_image()[None, ..., None], 3, axis=-1)
    assert_backends_equal_reference(net, frames)


def test_pilotnet_lif_first_blocks_equal_stock_netx_on_lavas_image(tmp_path):
    """Stock NetX's conv takes seconds a step at 66 x 200: its first two blocks only."""
    path = shipped("gts/pilotnet_lif/network.net", tmp_path)
    net = read_net(path)
    steps = 1
    frames = np.repeat(pilotnet_image()[..., None], steps, axis=-1)
    run = run_stock(path, np.concatenate([frames, 0 * frames[..., :1]], -1), num_layers=2, reset_interval=9)
    assert_like_stock(net, reference(net, frames), run, steps)


def pilotnet_small(tmp_path, h=47, w=49, channels=4):
    """PilotNet-LIF's file cut down for stock NetX's slow conv (one scipy call per
    channel pair): an h x w input and the first `channels` channels of each conv,
    with the file's keys, weights and geometry (stride [2, 1], padding [1, 0],
    'flatten', the 1-D last weight), each shape and redundant key recomputed, the
    first dense layer's weight cut to the smaller flattening."""
    path = shipped("gts/pilotnet_lif/network.net", tmp_path)

    with h5py.File(path, "r+") as f:
        c, size = 3, (h, w)
        f["layer/0/shape"][...] = [c, h, w]
        for i in range(1, 6):
            g = f[f"layer/{i}"]
            weight = g["weight"][:channels, :c]
            size = intconv.output_size(size, weight.shape[2:], g["stride"][()], g["padding"][()])
            put_key(g, "weight", weight)
            put_key(g, "bias", g["bias"][:channels])
            put_key(g, "shape", [channels, *size])
            put_key(g, "inChannels", c)
            put_key(g, "outChannels", channels)
            c = channels
        features = c * size[0] * size[1]
        put_key(f["layer/6"], "shape", [1, 1, features])
        put_key(f["layer/7"], "weight", f["layer/7/weight"][:, :features])
        put_key(f["layer/7"], "inFeatures", features)
    return path


def test_pilotnet_geometry_equals_stock_netx_on_every_layer(tmp_path):
    path = pilotnet_small(tmp_path)
    net = read_net(path)
    assert net.layers[4].attrs["stride"] == (2, 1) and net.layers[-1].weight.shape == (1, 10)
    steps = 3
    frames = np.random.default_rng(5).integers(20, 120, (3, 47, 49, steps))
    assert_like_stock(net, reference(net, frames), stock(path, net, frames), steps)


def test_written_back_file_runs_in_stock_netx_identically(tmp_path):
    tiny = tmp_path / "tiny-back.net"
    write_net(read_net(shipped("tiny.net", tmp_path)), tiny)
    layer = read_net(tiny).layers[0]
    assert transform(layer) == {"weight": 36, "bias": 34} and layer.neuron is not None and layer.bias is None
    path = pilotnet_small(tmp_path)
    back = tmp_path / "back.net"
    net = read_net(path)
    write_net(net, back)
    again = read_net(back)
    assert [(x.name, x.shape, x.attrs) for x in again.layers] == [(x.name, x.shape, x.attrs) for x in net.layers]
    steps = 2  # the original file equals the reference in the test above: the written one must too
    frames = np.random.default_rng(6).integers(20, 120, (3, 47, 49, steps))
    written = stock(back, net, frames)
    assert written.blocks == ["Input"] + ["Conv"] * 5 + ["Dense"] * 4
    assert_like_stock(again, reference(again, frames), written, steps)


def test_inspect_runs_on_the_files(tmp_path):
    path = shipped("gts/pilotnet_lif/network.net", tmp_path)
    done = subprocess.run([sys.executable, "-m", "lava_msf", "inspect", str(path), "--json"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)["layers"]
    assert [r["name"] for r in rows] == [f"layer{i}" for i in (0, 1, 2, 3, 4, 5, 7, 8, 9, 10)]  # unique
    assert rows[0]["neurons"] == 3 * 66 * 200 and rows[4]["synapses"] > 0


def test_report_counts_the_files_per_layer(tmp_path):
    net = read_net(shipped("mnist.net", tmp_path))
    frames = np.random.default_rng(9).integers(0, 160, (3, 784, 1, 1, 4))
    r = energy(net, measure_rates(net, frames, progress=False)["rates"], timesteps=4)
    assert [row["name"] for row in r["layers"]] == ["layer1", "layer2", "layer3"]
    assert [row["op"] for row in r["layers"]] == ["AC"] * 3  # NetX's input neuron sends spikes
    assert r["layers"][0]["flops"] == 512 * 784 and 0 < r["layers"][0]["input_rate"] < 1


# --- the input transform --------------------------------------------------------

def test_transform_is_kept_not_applied_and_applies_on_request(tmp_path):
    path = shipped("gts/pilotnet_lif/network.net", tmp_path)
    layer = read_net(path).layers[0]
    assert transform(layer) == {"weight": 40, "bias": 36}  # the file's 0-d values
    np.testing.assert_array_equal(transform_frames(layer, np.array([-1.0, 0.0, 0.5, 1.0])), [-4, 36, 56, 76])
    plain = Layer("x", "input", (1, 1, 1))
    np.testing.assert_array_equal(transform_frames(plain, np.array([1.0, 0.25])), [64, 16])  # NetX's defaults


# --- bad NetX keys: one line naming file, layer and key -----------------------------

def edited(tmp_path, relative, layer, key, value):
    path = shipped(relative, tmp_path)
    with h5py.File(path, "r+") as f:
        put_key(f[f"layer/{layer}"], key, value)
    return path


@pytest.mark.parametrize("relative, layer, key, value, words", [
    ("tiny.net", 1, "kernelSize", [5, 3], "does not match"),
    ("tiny.net", 1, "inChannels", 4, "does not match"),
    ("tiny.net", 2, "outChannels", 35, "does not match"),
    ("mnist.net", 1, "inFeatures", 783, "does not match"),
    ("mnist.net", 3, "outFeatures", 11, "does not match"),
    ("tiny.net", 1, "weight", np.ones((24, 3, 5, 5, 2)), "must be (out"),
    ("tiny.net", 1, "padding", [5, 0], "below the (dilated) kernel"),
    ("tiny.net", 1, "dilation", [1, 0], "(y, x) pair"),
    ("tiny.net", 0, "weight", [1, 2], "one integer"),
    ("mnist.net", 3, "weight", -2 * np.ones((10, 512)), "stock NetX clips or truncates"),
])
def test_bad_netx_keys_are_one_line_errors(tmp_path, relative, layer, key, value, words):
    path = edited(tmp_path, relative, layer, key, np.asarray(value))
    with pytest.raises(NetFileError) as info:
        read_net(path)
    msg = str(info.value)
    assert str(path) in msg and f"layer {layer}" in msg and words in msg and "\n" not in msg, msg
    if key not in ("weight",) or words != "must be (out":
        assert repr(key) in msg or key in msg


def test_lava_msf_files_keep_weights_netx_would_clip(tmp_path):
    """The NetX-exactness rule is for plain NetX files: a lava-msf file reads as before."""
    w = -2 * np.ones((3, 4), dtype=np.int64)
    net = Network([Layer("in", "input", (4, 1, 1)), Layer("d", "dense", (3, 1, 1), (0,), weight=w)], 2)
    write_net(net, tmp_path / "own.net")
    np.testing.assert_array_equal(read_net(tmp_path / "own.net").layers[1].weight, w)


# --- dilation and (y, x) geometry in every backend --------------------------------

@pytest.mark.parametrize("groups, cin, stride, padding, dilation", [
    (1, 3, (2, 1), (1, 0), (1, 1)),
    (1, 3, 1, (0, 2), (2, 3)),
    (2, 4, (1, 2), 1, (2, 1)),
    (4, 4, (2, 1), (2, 1), (3, 2)),  # depthwise
])
def test_conv_geometry_is_exact_in_numpy_and_torch(groups, cin, stride, padding, dilation):
    rng = np.random.default_rng(7)
    w = rng.integers(-256, 256, (8, cin // groups, 3, 2))
    x = rng.integers(-300, 300, (2, cin, 11, 10))
    want = F.conv2d(torch.tensor(x, dtype=torch.float64), torch.tensor(w, dtype=torch.float64),
                    stride=stride, padding=padding, dilation=dilation, groups=groups).long().numpy()
    np.testing.assert_array_equal(NumpyBackend.conv(w, stride, padding, groups, dilation)(x), want)
    np.testing.assert_array_equal(TorchBackend.conv(torch.tensor(w), stride, padding, groups, dilation)(
        torch.tensor(x)).numpy(), want)
    assert want.shape[2:] == intconv.output_size((11, 10), (3, 2), stride, padding, dilation)


def test_dilated_strided_conv_runs_on_lava_like_the_reference(tmp_path):
    rng = np.random.default_rng(8)
    attrs = {"stride": (2, 1), "padding": (1, 0), "dilation": (2, 3), "groups": 1}
    layers = [Layer("in", "input", (2, 9, 12)),
              Layer("c", "conv", (6, 4, 6), (0,), LifParams(vth_mant=40), rng.integers(-60, 80, (6, 2, 3, 3)),
                    bias=rng.integers(-5, 9, 6), attrs=attrs),
              Layer("d", "dense", (5, 1, 1), (1,), weight=rng.integers(-90, 90, (5, 144)))]
    net = Network(layers, 4)
    write_net(net, tmp_path / "dil.net")
    back = read_net(tmp_path / "dil.net")
    assert back.layers[1].attrs == attrs
    assert_backends_equal_reference(back, rng.integers(0, 2, (2, 2, 9, 12, 4)))
