"""Bad .net files: a NetFileError naming file, layer and key; never a crash."""

import h5py
import numpy as np
import pytest

from lava_msf.errors import LavaMsfError
from lava_msf.fixedpoint import LifParams
from lava_msf.graph import Layer, Network
from lava_msf.netfile import FORMAT_VERSION, NetFileError, read_net, write_net


def small_net():
    """input (1, 6, 6) -> conv 3x3 with neuron (4, 6, 6) -> conv current -> merge -> neuron -> dense."""
    rng = np.random.default_rng(0)
    w1 = 2 * rng.integers(-60, 60, size=(4, 1, 3, 3))
    w2 = 2 * rng.integers(-60, 60, size=(4, 4, 1, 1))
    layers = [
        Layer("input", "input", (1, 6, 6)),
        Layer("c1", "conv", (4, 6, 6), (0,), LifParams(), w1, 0, None, {"stride": 1, "padding": 1, "groups": 1}),
        Layer("c2", "conv", (4, 6, 6), (1,), None, w2, -1, np.arange(4), {"stride": 1, "padding": 0, "groups": 1}),
        Layer("c3", "conv", (4, 6, 6), (1,), None, w2, 0, None, {"stride": 1, "padding": 0, "groups": 1}),
        Layer("m", "merge", (4, 6, 6), (2, 3)),
        Layer("sn", "neuron", (4, 6, 6), (4,), LifParams()),
        Layer("fc", "dense", (3, 1, 1), (5,), None, 2 * rng.integers(-60, 60, size=(3, 144)), 0),
    ]
    return Network(layers, 2, {"note": "test"}).validate()


@pytest.fixture
def good(tmp_path):
    path = tmp_path / "good.net"
    write_net(small_net(), path)
    return path


def mutate(path, fn):
    with h5py.File(path, "r+") as f:
        fn(f)
    return path


def expect(path, *words):
    with pytest.raises(NetFileError) as info:
        read_net(path)
    msg = str(info.value)
    assert str(path) in msg
    for w in words:
        assert w in msg, msg
    assert isinstance(info.value, LavaMsfError)


def test_round_trip_of_a_hand_built_graph(good):
    net = read_net(good)
    assert [layer.type for layer in net.layers] == ["input", "conv", "conv", "conv", "merge", "neuron", "dense"]
    assert net.layers[4].inputs == (2, 3) and net.layers[2].weight_exp == -1 and net.meta == {"note": "test"}


def test_not_hdf5(tmp_path):
    bad = tmp_path / "x.net"
    bad.write_bytes(b"\x89HDF but not really" * 10)
    expect(bad, "not an HDF5 file")
    expect(tmp_path / "missing.net", "no such file")


def test_truncated_file(good):
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 2])
    with pytest.raises(NetFileError):
        read_net(good)


@pytest.mark.parametrize("edit, words", [
    (lambda f: f.attrs.__setitem__("format_version", FORMAT_VERSION + 1), ["newer"]),
    (lambda f: f.attrs.__setitem__("format", "other"), ["format 'other'"]),
    (lambda f: f["layer/1"].__delitem__("weight"), ["layer 1", "'weight'"]),
    (lambda f: f["layer/2"].__delitem__("type"), ["layer 2", "'type'"]),
    (lambda f: (f["layer/3"].__delitem__("type"), f["layer/3"].create_dataset("type", data=b"attention")),
     ["layer 3", "unknown layer type 'attention'"]),
    (lambda f: (f["layer/3"].__delitem__("type"), f["layer/3"].create_dataset("type", data=b"dense_comp")),
     ["layer 3", "unexpected key 'dilation' for a dense_comp layer"]),  # NetX's complex dense: a conv's keys refused
    (lambda f: f["layer/4"]["inputs"].__setitem__(0, 5), ["layer 4", "'inputs'", "no cycles"]),
    (lambda f: f["layer/4"]["inputs"].__setitem__(0, 1), ["layer 4", "merges currents"]),
    (lambda f: f["layer/1"]["shape"].__setitem__(1, 7), ["layer 1", "output size"]),
    (lambda f: (f["layer/1"].__delitem__("weight"), f["layer/1"].create_dataset("weight", data=np.full((4, 1, 3, 3), np.nan))),
     ["layer 1", "'weight'", "NaN"]),
    (lambda f: (f["layer/1"].__delitem__("weight"), f["layer/1"].create_dataset("weight", data=np.full((4, 1, 3, 3), -300))),
     ["layer 1", "integers in [-256, 255]"]),
    (lambda f: (f["layer/1"].__delitem__("weight"), f["layer/1"].create_dataset("weight", data=np.full((4, 1, 3, 3), 1000))),
     ["layer 1", "integers in [-256, 255]"]),
    (lambda f: f["layer/1/neuron/vDecay"].write_direct(np.array(5000)), ["layer 1: neuron", "'vDecay'"]),
    (lambda f: f["layer/5"].__delitem__("neuron"), ["layer 5", "'neuron' group"]),
    (lambda f: f["layer/2"].create_dataset("delay", data=np.zeros(5)), ["layer 2", "key 'delay'", "fits none"]),
    (lambda f: f["layer/1/neuron"].create_dataset("bias", data=1), ["layer 1: neuron", "unexpected key 'bias'"]),
    (lambda f: f["layer/0"]["shape"].__setitem__(0, -1), ["layer 0", "'shape'"]),
    (lambda f: f.move("layer/6", "layer/9"), ["'layer' must hold groups"]),
    (lambda f: f["layer/1"]["stride"].__setitem__(0, 0), ["layer 1", "'stride'"]),
])
def test_bad_content_is_a_typed_error(good, edit, words):
    expect(mutate(good, edit), *words)


def test_huge_declared_dimensions_are_refused_before_allocation(good):
    expect(mutate(good, lambda f: f["layer/0"]["shape"].__setitem__(1, 2 ** 40)), "layer 0", "'shape'")


def test_write_is_atomic(tmp_path, good):
    before = good.read_bytes()
    net = small_net()
    net.layers[1].weight = net.layers[1].weight + 1000  # out of range: invalid, refused before writing
    with pytest.raises(LavaMsfError):
        write_net(net, good)
    assert good.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["good.net"]
