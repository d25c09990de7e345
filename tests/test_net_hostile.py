"""Hostile .net files past the reader (issue 23, classes 4-6): every value a
backend uses is bounded at read time, every size before allocation; the
error is one NetFileError line naming file, layer and key."""

import h5py
import numpy as np
import pytest

from lava_msf import fixedpoint as fx
from lava_msf.cli import main
from lava_msf.errors import GraphError
from lava_msf.graph import Layer, Network, memory_budget
from lava_msf.netfile import NetFileError, read_net, write_net
from lava_msf.reference import Executor

from fuzz_worker import base_net


@pytest.fixture
def good(tmp_path):
    path = tmp_path / "good.net"
    write_net(base_net(), path)
    return path


def edit(path, fn):
    with h5py.File(path, "r+") as f:
        fn(f)
    return path


def put(key, value, **kw):
    """Replace dataset `key` (path inside the file) with `value`."""
    def fn(f):
        if key in f:
            del f[key]
        f.create_dataset(key, data=value, **kw)
    return fn


def expect(path, *words):
    with pytest.raises(NetFileError) as info:
        read_net(path)
    msg = str(info.value)
    assert str(path) in msg and "\n" not in msg and len(msg) < 400, msg
    for w in words:
        assert w in msg, msg


def layer_of(name):
    return next(i for i, layer in enumerate(base_net().layers) if layer.name == name)


C1, MERGE, ATTN, MEAN = (layer_of(n) for n in ("c1", "merge", "attn", "mean"))


@pytest.mark.parametrize("fn, words", [
    (lambda f: f.attrs.__setitem__("timesteps", np.inf), ["'timesteps'"]),
    (lambda f: f.attrs.__setitem__("timesteps", 2 ** 40), ["'timesteps'", "0..65536"]),
    (lambda f: f.attrs.__setitem__("timesteps", -3), ["'timesteps'"]),
    (lambda f: f.attrs.__setitem__("format_version", np.inf), ["'format_version'"]),
    (lambda f: f.attrs.__setitem__("format_version", np.nan), ["'format_version'"]),
    (lambda f: f.attrs.__setitem__("format_version", [1, 1]), ["'format_version'"]),
    (lambda f: f.attrs.__setitem__("meta", '{"data": "digits"}'), ["meta 'data'", "JSON object"]),
    (lambda f: f.attrs.__setitem__("meta", '{"data": {"dataset": ["a", "b"]}}'), ["'data.dataset'", "string"]),
    (lambda f: f.attrs.__setitem__("meta", '{"data": {"bin_us": 0}}'), ["'data.bin_us'"]),
    (lambda f: f.attrs.__setitem__("meta", '{"data": {"bin_us": 1.5}}'), ["'data.bin_us'"]),
    (lambda f: f.attrs.__setitem__("meta", '{"data": {"classes": [1, 2]}}'), ["'data.classes'"]),
    (lambda f: f.attrs.__setitem__("meta", '{"input": 3}'), ["meta 'input'"]),
    (lambda f: f.attrs.__setitem__("meta", '{"readout_scale": NaN}'), ["meta 'readout_scale'"]),
    (put(f"layer/{C1}/stride", [0, 0]), [f"layer {C1}", "'stride'"]),
    (put(f"layer/{C1}/groups", 0), [f"layer {C1}", "'groups'"]),
    (put(f"layer/{C1}/groups", 2 ** 40), [f"layer {C1}", "'groups'"]),
    (put(f"layer/{C1}/padding", [-1, -1]), [f"layer {C1}", "'padding'"]),
    (put(f"layer/{C1}/padding", [2000, 2000]), [f"layer {C1}", "'padding'"]),
    (put(f"layer/{C1}/dilation", [np.inf, np.inf]), [f"layer {C1}", "'dilation'"]),
    (put(f"layer/{C1}/wgtExp", 40), [f"layer {C1}", "'wgtExp'"]),
    (put(f"layer/{C1}/neuron/vThMant", 1 << 20), [f"layer {C1}: neuron", "'vThMant'"]),
    (put(f"layer/{C1}/neuron/iDecay", 0), [f"layer {C1}", "iDecay in 1..4096"]),
    (put(f"layer/{C1}/bias", np.full(4, 5000)), [f"layer {C1}", "13-bit"]),
    (put(f"layer/{C1 + 1}/bias", np.full(4, 1 << 30)), [f"layer {C1 + 1}", "24-bit"]),
    (put(f"layer/{MERGE}/inputs", [C1 + 1, C1 + 1]), [f"layer {MERGE}", "more than once"]),
    (put(f"layer/{MERGE}/inputs", np.arange(100) % 3 + 1), [f"layer {MERGE}", "'inputs'"]),
    (put(f"layer/{ATTN}/scale", 1000), [f"layer {ATTN}", "'scale'"]),
    (put(f"layer/{ATTN}/heads", 0), [f"layer {ATTN}", "'heads'"]),
    (put(f"layer/{MEAN}/scaleMant", 2 ** 40), [f"layer {MEAN}", "'scaleMant'"]),
    (put(f"layer/{MEAN}/scaleMant", 1 << 20), [f"layer {MEAN}", "scale 1048576 / 2**8"]),
    (put(f"layer/{MEAN}/scaleShift", 40), [f"layer {MEAN}", "'scaleShift'"]),
    (put("layer/2/type", np.bytes_(b"x" * 100000)), ["layer 2", "unknown layer type"]),
])
def test_hostile_values_are_refused_at_read(good, fn, words):
    expect(edit(good, fn), *words)


def test_a_refused_value_is_one_line_in_every_command(good, capsys):
    edit(good, lambda f: f.attrs.__setitem__("timesteps", np.inf))
    for command in (["inspect", str(good)], ["run", str(good), "--backend", "reference"]):
        assert main(command) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("lava-msf: error: ") and "'timesteps'" in err[0], err


def test_declared_sizes_are_bounded_before_reading(good):
    """A compressed dataset declaring more values than memory holds (nothing stored)."""
    n = memory_budget() // 20 + (1 << 20)
    expect(edit(good, lambda f: (f.__delitem__(f"layer/{C1}/weight"),
                                 f.create_dataset(f"layer/{C1}/weight", shape=(n,), dtype="<i2", chunks=(1 << 16,),
                                                  compression="gzip"))),
           "declare", "GiB", "machine's memory")
    assert good.stat().st_size < 1 << 20


def test_network_memory_is_bounded_before_allocating(tmp_path):
    """Layers within the per-layer limit whose sum exceeds the machine's budget: refused at read, in one line."""
    side = 1 << 13  # (1, 8192, 8192): 2**26 values, 1 GiB per 1x1 conv layer with its scratch
    depth = memory_budget() // (1 << 30) + 2
    layers = [Layer("input", "input", (1, side, side))]
    layers += [Layer(f"c{i}", "conv", (1, side, side), (i,), weight=np.full((1, 1, 1, 1), 2)) for i in range(depth)]
    with pytest.raises(GraphError, match="GiB per sample, more than .* GiB .1/4 of this machine's memory"):
        Network(layers, timesteps=1).validate()
    path = tmp_path / "big.net"
    with h5py.File(path, "w") as f:  # write_net would refuse it: build the file by hand
        for i, layer in enumerate(layers):
            g = f.create_group(f"layer/{i}")
            g.create_dataset("type", data=np.bytes_(layer.type))
            g.create_dataset("shape", data=np.array(layer.shape))
            if layer.weight is not None:
                g.create_dataset("weight", data=layer.weight)
    assert path.stat().st_size < 1 << 20
    expect(path, "GiB per sample", "machine's memory")


def test_plain_netx_layers_get_unique_names(tmp_path):
    path = tmp_path / "plain.net"
    write_net(base_net(), path)
    with h5py.File(path, "r+") as f:
        for k in list(f.attrs):
            del f.attrs[k]
        for g in f["layer"].values():
            g.attrs.pop("name", None)
    names = [layer.name for layer in read_net(path).layers]
    assert len(set(names)) == len(names) and names[1] == "layer1"


def test_duplicate_names_are_refused(good):
    expect(edit(good, lambda f: f[f"layer/{C1 + 1}"].attrs.__setitem__("name", "c1")),
           f"layer {C1 + 1} (c1)", "names must be unique")


def test_merge_reading_one_layer_twice_is_refused_before_building():
    net = base_net()
    net.layers[MERGE].inputs = (C1 + 1, C1 + 1)
    with pytest.raises(GraphError, match="reads a layer more than once"):
        net.validate()


def test_mean_at_its_largest_scale_is_exact_on_the_reference():
    """The largest accepted mean scale (16 / tokens, shift 24) on the largest 24-bit currents:
    int64 products exact, the output within 16 times the input."""
    hw = 36
    layers = [Layer("in", "input", (1, 6, 6), attrs={"value_shift": 0}),
              Layer("c", "conv", (2, 6, 6), (0,), weight=np.full((2, 1, 1, 1), 254), weight_exp=7),
              Layer("m", "mean", (2, 1, 1), (1,), attrs={"scale_mant": (16 << 24) // hw, "scale_shift": 24})]
    net = Network(layers, timesteps=1).validate()
    frames = np.full((1, 1, 6, 6, 1), 1 << 20)
    out = Executor(net).run(frames)
    assert int(out.max()) == (hw * fx.SYNAPSE_MAX * ((16 << 24) // hw)) >> 24
    assert abs(int(out.max())) < 1 << 31  # what Lava's int32 ports carry


def test_attention_counts_are_bounded_by_the_decomposition_accumulator():
    big = (2, 1024, 1024)  # 2**20 tokens: scale x d x N over 24 bits (nothing is allocated)
    spikes = [Layer(n, "conv", big, (0,), neuron=fx.LifParams(), weight=np.full((2, 1, 1, 1), 2)) for n in "qkv"]
    layers = [Layer("in", "input", (1, *big[1:])), *spikes,
              Layer("attn", "sdsa", big, (1, 2, 3), neuron=fx.LifParams(), attrs={"variant": "v2", "heads": 1,
                                                                                  "scale": 4})]
    with pytest.raises(GraphError, match=r"layer 4 \(attn\): attention current up to 8388608 .* 24-bit"):
        Network(layers, timesteps=1).validate()


@pytest.mark.slow
def test_largest_mean_scale_is_equal_on_every_backend():
    """The largest accepted mean scale (16 / tokens at shift 24) on large currents: the
    reference, lava-cpu and the fused backend agree bit for bit."""
    from lava_msf.runtime import LavaRunner

    hw = 36
    rng = np.random.default_rng(3)
    layers = [Layer("in", "input", (1, 6, 6)),
              Layer("c", "conv", (2, 6, 6), (0,), weight=rng.integers(100, 127, (2, 1, 3, 3)) * 2, weight_exp=7,
                    attrs={"padding": 1}),
              Layer("m", "mean", (2, 1, 1), (1,), attrs={"scale_mant": (16 << 24) // hw, "scale_shift": 24})]
    net = Network(layers, timesteps=2).validate()
    frames = rng.integers(0, 2, (2, 1, 6, 6, 2))
    ref = Executor(net).run(frames)
    assert int(np.abs(ref).max()) > 1 << 20  # beyond any current of the conv (9 x 252 x 2**7): the gain shows
    for backend in ("lava-cpu", "lava-cpu-fused"):
        with LavaRunner(net, backend, batch_samples=2) as runner:
            out, _ = runner.run(frames)
        np.testing.assert_array_equal(out, ref, err_msg=backend)
