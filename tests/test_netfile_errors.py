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


# --- the keys of the NetX superset (issue 18): each bad value one line naming file, layer and key
NETX_KEY_CASES = [  # (seed of tests/fuzz_cases.py, file group, key, value; None deletes), words
    ("lif", "layer/0", "weight", 2 ** 30, ["layer 0", "key 'weight' = 1073741824 outside"]),
    ("lif", "layer/0", "bias", [1, 2], ["layer 0", "key 'bias' must be one integer"]),
    ("lif", "layer/0/neuron", "scaleRho", np.nan, ["layer 0: neuron", "key 'scaleRho' = nan is not a finite"]),
    ("lif", "layer/0/neuron", "tauRho", b"x", ["layer 0: neuron", "key 'tauRho' must be one number"]),
    ("lif", "layer/1/neuron", "theta", np.inf, ["layer 1: neuron", "key 'theta' = inf"]),
    ("lif", "layer/1/neuron", "wgtExp", 9, ["layer 1: neuron", "key 'wgtExp' = 9 outside -8..7"]),
    ("lif", "layer/1/neuron", "messageBits", 25, ["layer 1: neuron", "key 'messageBits' = 25 outside"]),
    ("lif", "layer/1/neuron", "gradedSpike", 1, ["layer 1: neuron", "key 'gradedSpike' is true"]),
    ("lif", "layer/1/neuron", "type", b"PLIF", ["layer 1: neuron", "key 'type' = 'PLIF'"]),
    ("lif", "layer/1", "dilation", [0, 1], ["layer 1", "key 'dilation' must be one value or a (y, x) pair"]),
    ("lif", "layer/1", "stride", [1, 2, 3], ["layer 1", "key 'stride' must be one value or a (y, x) pair"]),
    ("lif", "layer/1", "groups", 0, ["layer 1", "key 'groups' = 0 outside 1..4"]),
    ("lif", "layer/1", "delay", [-1, 0, 0, 0], ["layer 1", "key 'delay' has negative values"]),
    ("lif", "layer/3", "delay", np.zeros(5, dtype=int), ["layer 2 (d_in)", "key 'delay' of shape (5,) fits none"]),
    ("lif", "layer/3", "delay", np.full(64, 0.5), ["layer 3", "key 'delay' must hold integers"]),
    ("lif", "layer/5", "weight_rec", np.ones((4, 4), dtype=int), ["layer 4 (rec)", "key 'weight_rec' must hold even"]),
    ("lif", "layer/5", "weight_rec", None, ["layer 5", "missing key 'weight_rec'"]),
    ("lif", "layer/5", "delay", [1, 1, 1, 1], ["layer 5", "unexpected key 'delay' for a dense_rec layer"]),
    ("lif", "layer/6", "type", b"dense_comp", ["layer 6", "a dense_comp layer needs a 'neuron' group"]),
    ("sdnn", "layer/1/neuron", "activation", b"sigmoid", ["layer 1: neuron", "key 'activation' = 'sigmoid'"]),
    ("sdnn", "layer/1/neuron", "spike_exp", 6, ["layer 1: neuron", "unexpected key 'spike_exp'"]),
    ("sdnn", "layer/3/neuron", "messageBits", 0, ["layer 3: neuron", "key 'messageBits' = 0 outside 1..24"]),
    ("sdnn", "layer/4/neuron", "vThMant", -1, ["layer 4: neuron", "key 'vThMant' = -1 outside"]),
    ("sdnn", "layer/4", "bias", [1, 2, 3], ["layer 3 (out)", "a sigma neuron takes no bias"]),
]


@pytest.mark.parametrize("seed, group, key, value, words", NETX_KEY_CASES,
                         ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in NETX_KEY_CASES])
def test_bad_netx_keys_are_one_line_naming_file_layer_and_key(tmp_path, seed, group, key, value, words):
    from fuzz_cases import BUILT

    path = tmp_path / "bad.net"
    write_net(BUILT[seed][0](), path)
    with h5py.File(path, "r+") as f:
        if key in f[group]:
            del f[group][key]
        if value is not None:
            f[group].create_dataset(key, data=value)
    with pytest.raises(NetFileError) as e:
        read_net(path)
    message = str(e.value)
    assert "\n" not in message and message.startswith(f"{path}: "), message
    for word in words:
        assert word in message, message
