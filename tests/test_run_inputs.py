"""`lava-msf run NET --inputs FILE`: frames from .npy, .npz and .h5 files in
either layout, outputs and probes bit-exact across backends, and every kind
of bad input file refused in one line naming the file (nothing unpickled,
nothing allocated from a declared size, no output file left behind)."""

import json
import subprocess
import sys

import h5py
import numpy as np
import pytest

from lava_msf.errors import ConfigError, InputFileError
from lava_msf.graph import Layer, Network
from lava_msf.netfile import write_net
from lava_msf.pipeline import read_inputs, run_inputs
from lava_msf.reference import quantize_images

from small_nets import small_net


def cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "lava_msf", *args], capture_output=True, text=True,
                          timeout=timeout)


def error_of(proc) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("lava-msf: error:")]
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


@pytest.fixture(scope="module")
def net():
    return small_net()


@pytest.fixture(scope="module")
def net_path(net, tmp_path_factory):
    path = tmp_path_factory.mktemp("net") / "small.net"
    write_net(net, path)
    return path


@pytest.fixture(scope="module")
def spikes():
    """3 samples of (C, H, W, T) = (2, 6, 6, 4) spikes, enough to make the output nonzero."""
    return np.random.default_rng(1).random((3, 2, 6, 6, 4)) < 0.3


def graded_net(**meta) -> Network:
    """An input whose frames enter as values (value shift 4) into a 1x1 conv."""
    w = np.arange(-4, 4).reshape(4, 2, 1, 1) * 2
    return Network([Layer("input", "input", (2, 3, 3), attrs={"value_shift": 4}),
                    Layer("conv", "conv", (4, 3, 3), (0,), weight=w)], timesteps=2, meta=meta).validate()


# ---------------------------------------------------------------- formats and layouts
def test_every_format_and_layout_gives_the_same_frames(net, spikes, tmp_path):
    netx = np.transpose(spikes, (0, 3, 2, 1, 4))  # (N, W, H, C, T)
    np.save(tmp_path / "a.npy", spikes)
    np.save(tmp_path / "one.npy", spikes[1])  # one sample, no N axis
    np.save(tmp_path / "real.npy", spikes.astype(np.float64))  # lava-dl ships its spikes as float64 0/1
    np.savez(tmp_path / "only.npz", frames=spikes.astype(np.uint8))
    np.savez_compressed(tmp_path / "two.npz", other=np.zeros(3), frames=netx.astype(np.int16))
    with h5py.File(tmp_path / "f.h5", "w") as f:
        f.create_dataset("group/frames", data=spikes.astype(np.int32), compression="gzip")
    with h5py.File(tmp_path / "only.h5", "w") as f:
        f.create_dataset("deep/inside/x", data=netx)
    cases = {"a.npy": ("nchwt", "a.npy"), "real.npy": ("nchwt", "real.npy"),
             "only.npz": ("nchwt", "only.npz:frames"), "two.npz:frames": ("netx", "two.npz:frames"),
             "f.h5:group/frames": ("nchwt", "f.h5:group/frames"), "only.h5": ("netx", "only.h5:deep/inside/x")}
    for name, (layout, where) in cases.items():
        frames, found, batched = read_inputs(net, str(tmp_path / name), layout)
        assert frames.dtype == np.int64 and batched and found == str(tmp_path / where)
        np.testing.assert_array_equal(frames, spikes, err_msg=name)
    one, _, batched = read_inputs(net, str(tmp_path / "one.npy"))
    assert not batched
    np.testing.assert_array_equal(one, spikes[1:2])
    first, _, _ = read_inputs(net, str(tmp_path / "a.npy"), samples=2)
    assert len(first) == 2


def test_netx_layout_of_an_input_of_neurons(tmp_path):
    """NetX feeds a dense input (C neurons) as (C, T): so does --layout netx."""
    w = np.arange(-6, 6).reshape(2, 6) * 2
    net = Network([Layer("input", "input", (6, 1, 1)), Layer("fc", "dense", (2, 1, 1), (0,), weight=w)],
                  timesteps=0).validate()
    x = np.random.default_rng(2).random((6, 5)) < 0.5  # (C, T)
    np.save(tmp_path / "ct.npy", x)
    frames, _, _ = read_inputs(net, str(tmp_path / "ct.npy"), "netx")
    np.testing.assert_array_equal(frames, x.reshape(1, 6, 1, 1, 5))
    write_net(net, tmp_path / "fc.net")
    r = run_inputs(tmp_path / "fc.net", str(tmp_path / "ct.npy"), "reference", "netx", out=tmp_path / "o.npz")
    with np.load(tmp_path / "o.npz") as out:
        assert out["output"].shape == (1, 2, 5) == tuple(r["arrays"]["output"]["shape"])  # NetX's (N, C, T)
        expected = np.einsum("oc,ct->ot", w, x.astype(np.int64))  # a dense layer's current, no neuron
        np.testing.assert_array_equal(out["output"][0], expected)


def test_image_network_quantizes_real_pixels(tmp_path):
    net = graded_net(input="image")
    x = np.random.default_rng(3).random((2, 2, 3, 3, 2))
    np.save(tmp_path / "px.npy", x)
    frames, _, _ = read_inputs(net, str(tmp_path / "px.npy"))
    np.testing.assert_array_equal(frames, quantize_images(x))
    np.save(tmp_path / "bright.npy", x + 1)
    with pytest.raises(InputFileError, match=r"bright\.npy.*\[0, 1\]"):
        read_inputs(net, str(tmp_path / "bright.npy"))


def test_transform_applies_weight_and_bias(tmp_path):
    net = graded_net()
    x = np.random.default_rng(4).integers(-50, 50, (1, 2, 3, 3, 2))
    np.save(tmp_path / "x.npy", x)
    with pytest.raises(ConfigError, match="no neuron and no NetX weight/bias transform"):
        read_inputs(net, str(tmp_path / "x.npy"), transform=True)
    net.layers[0].attrs["transform"] = {"weight": 36, "bias": 34}  # tiny.net's
    frames, _, _ = read_inputs(net, str(tmp_path / "x.npy"), transform=True)
    np.testing.assert_array_equal(frames, x * 36 + 34)
    np.save(tmp_path / "real.npy", x / 8)  # SLAYER's real-valued input, made integer currents by the transform
    frames, _, _ = read_inputs(net, str(tmp_path / "real.npy"), transform=True)
    np.testing.assert_array_equal(frames, np.rint(x / 8 * 36 + 34))
    net.layers[0].attrs["transform"] = {"bias": 2}  # NetX's default weight, 64 = 1.0
    frames, _, _ = read_inputs(net, str(tmp_path / "x.npy"), transform=True)
    np.testing.assert_array_equal(frames, x * 64 + 2)
    np.save(tmp_path / "big.npy", np.full((1, 2, 3, 3, 2), 1e30))
    with pytest.raises(InputFileError, match=r"big\.npy.*transformed values outside the 24-bit"):
        read_inputs(net, str(tmp_path / "big.npy"), transform=True)


# ---------------------------------------------------------------- backends
def test_outputs_and_probes_bit_exact_on_every_backend(net_path, spikes, tmp_path):
    np.save(tmp_path / "x.npy", spikes)
    results = {}
    for backend in ("reference", "lava-cpu", "lava-cpu-fused", "lava-cpu-decomposed"):
        out = tmp_path / f"{backend}.npz"
        batch = 1 if "decomposed" in backend else 2  # the decomposed graph has no batch axis
        r = run_inputs(net_path, str(tmp_path / "x.npy"), backend, probes=["all"], batch=batch, out=out,
                       progress=False)
        assert r["samples"] == 3 and r["timesteps"] == 4 and r["backend"] == backend
        with np.load(out) as f:
            results[backend] = {key: f[key] for key in f.files}
    reference = results.pop("reference")
    assert set(reference) == {"output"} | {f"probe:{layer}" for layer in
                                           ("input", "stem", "sn", "dw", "pw", "q", "attn", "fc")}
    assert np.count_nonzero(reference["output"]) > 0 and np.count_nonzero(reference["probe:attn"]) > 0
    np.testing.assert_array_equal(reference["probe:input"], spikes)
    for backend, arrays in results.items():
        for key, value in reference.items():
            np.testing.assert_array_equal(arrays[key], value, err_msg=f"{backend} {key}")


def test_cli_json_text_and_npz(net_path, spikes, tmp_path):
    np.savez(tmp_path / "x.npz", frames=np.transpose(spikes, (0, 3, 2, 1, 4)))
    out = tmp_path / "out" / "o.npz"
    proc = cli("run", str(net_path), "--inputs", f"{tmp_path / 'x.npz'}:frames", "--layout", "netx",
               "--backend", "lava-cpu-fused", "--probe", "sn", "--probe", "fc", "--out", str(out), "--json",
               "--batch", "2000000000")
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert r["batch"] == 3  # a batch beyond the samples is the samples, not terabytes of padding
    assert r["layout"] == "netx" and r["out"] == str(out) and r["lava_steps"] >= 4  # 3 samples a Lava step, T = 4
    assert sorted(r["arrays"]) == ["output", "probe:fc", "probe:sn"]
    assert r["arrays"]["probe:sn"]["shape"] == [3, 6, 6, 4, 4]  # (N, W, H, C, T)
    with np.load(out) as f:
        np.testing.assert_array_equal(f["output"], f["probe:fc"])
        assert r["arrays"]["output"]["nonzero"] == np.count_nonzero(f["output"]) > 0
    proc = cli("run", str(net_path), "--inputs", f"{tmp_path / 'x.npz'}", "--layout", "netx",
               "--backend", "reference")
    assert proc.returncode == 0, proc.stderr
    assert "on " + str(tmp_path / "x.npz:frames") in proc.stdout and "output (3, 3, 4)" in proc.stdout  # NetX (N, C, T)


# ---------------------------------------------------------------- bad inputs
def _bad_files(d) -> dict:
    """name -> (file spec, words the error must hold)."""
    ok = np.zeros((1, 2, 6, 6, 2), np.int8)
    np.save(d / "shape.npy", np.zeros((1, 2, 6, 5, 2), np.int8))
    np.save(d / "real.npy", ok + 0.5)
    np.save(d / "nan.npy", np.full(ok.shape, np.nan))
    np.save(d / "twos.npy", ok + 2)
    np.save(d / "complex.npy", ok.astype(np.complex64))
    np.save(d / "struct.npy", np.zeros(ok.shape, dtype=[("a", "i4")]))
    np.save(d / "pickle.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.savez(d / "pickle.npz", x=np.array([None], dtype=object))
    np.savez(d / "two.npz", a=ok, b=ok)
    np.save(d / "zero_t.npy", np.zeros((1, 2, 6, 6, 0), np.int8))
    with open(d / "huge.npy", "wb") as f:  # declares 2**44 samples, holds none
        np.lib.format.write_array_header_1_0(f, {"descr": "|i1", "fortran_order": False,
                                                 "shape": (1 << 44, 2, 6, 6, 4)})
    with open(d / "short.npy", "wb") as f:  # declares 100 samples, holds one
        np.lib.format.write_array_header_1_0(f, {"descr": "|i1", "fortran_order": False,
                                                 "shape": (100, 2, 6, 6, 4)})
        f.write(bytes(2 * 6 * 6 * 4))
    (d / "garbage.npy").write_bytes(b"\x93NUMPY\x01\x00\x10\x00{'descr': [[[[" + b" " * 8)
    (d / "junk.npz").write_bytes(b"not a zip file")
    (d / "x.txt").write_text("0 1")
    with h5py.File(d / "f.h5", "w") as f:
        f.create_dataset("x", data=ok)
        f.create_dataset("text", data=["a", "b"], dtype=h5py.string_dtype())
        f.create_group("g")
    h5py.File(d / "empty.h5", "w").close()
    return {
        "wrong shape": ("shape.npy", ["shape.npy", "(1, 2, 6, 5, 2)", "(N, 2, 6, 6, T)"]),
        "real values": ("real.npy", ["real.npy", "not integers"]),
        "nan": ("nan.npy", ["nan.npy", "NaN"]),
        "not spikes": ("twos.npy", ["twos.npy", "0 or 1"]),
        "complex": ("complex.npy", ["complex.npy", "complex64", "not a plain number type"]),
        "structured": ("struct.npy", ["struct.npy", "not a plain number type"]),
        "pickled .npy": ("pickle.npy", ["pickle.npy", "object arrays are refused"]),
        "pickled .npz": ("pickle.npz", ["pickle.npz:x", "object arrays are refused"]),
        "no key, two arrays": ("two.npz", ["two.npz", "holds 2 arrays", "a, b", "KEY"]),
        "missing key": ("two.npz:c", ["two.npz", "no array 'c'"]),
        "no time steps": ("zero_t.npy", ["zero_t.npy", "T=0"]),
        "huge declared size": ("huge.npy", ["huge.npy", "GiB"]),
        "truncated": ("short.npy", ["short.npy", "truncated"]),
        "bad header": ("garbage.npy", ["garbage.npy"]),
        "not a zip": ("junk.npz", ["junk.npz", "cannot read"]),
        "unknown suffix": ("x.txt", ["x.txt", ".npy, .npz or .h5"]),
        "missing file": ("nothere.npy", ["nothere.npy", "no such file"]),
        "h5 missing dataset": ("f.h5:y", ["f.h5:y", "no such dataset"]),
        "h5 group": ("f.h5:g", ["f.h5:g", "not a dataset"]),
        "h5 strings": ("f.h5:text", ["f.h5:text", "object arrays are refused"]),
        "h5 no key, two datasets": ("f.h5", ["f.h5", "holds 2 datasets", "KEY"]),
        "h5 no dataset": ("empty.h5", ["empty.h5", "holds 0 datasets"]),
    }


def test_bad_input_files_are_refused_naming_the_file(net, tmp_path):
    for case, (name, words) in _bad_files(tmp_path).items():
        with pytest.raises(InputFileError) as e:
            read_inputs(net, str(tmp_path / name))
        message = str(e.value)
        assert "\n" not in message and all(w in message for w in words), (case, message)


def test_graded_values_bounded_to_a_graded_message(tmp_path):
    np.save(tmp_path / "big.npy", np.full((1, 2, 3, 3, 2), 1 << 23))
    with pytest.raises(InputFileError, match=r"big\.npy.*24-bit.*-8388608\.\.8388607"):
        read_inputs(graded_net(), str(tmp_path / "big.npy"))


def test_cli_errors_are_one_line_and_leave_no_output(net_path, spikes, tmp_path):
    _bad_files(tmp_path)
    np.save(tmp_path / "x.npy", spikes)
    out = tmp_path / "o.npz"
    base = ["run", str(net_path), "--backend", "reference"]
    cases = [
        (["--inputs", str(tmp_path / "pickle.npy"), "--out", str(out)], ["pickle.npy", "object arrays"]),
        (["--inputs", str(tmp_path / "huge.npy"), "--out", str(out)], ["huge.npy", "GiB"]),
        (["--inputs", str(tmp_path / "x.npy"), "--probe", "nope", "--out", str(out)], ["--probe", "'nope'", "stem"]),
        (["--inputs", str(tmp_path / "x.npy"), "--out", str(tmp_path / "o.json")], ["--out", ".npz"]),
        (["--inputs", str(tmp_path / "x.npy"), "--dataset", "digits"], ["--dataset", "--inputs"]),
        (["--inputs", str(tmp_path / "x.npy"), "--out", str(tmp_path / "x.npy")], ["also an input"]),
        (["--inputs", str(tmp_path / "x.npy"), "--transform"], ["--transform", "no NetX"]),
        (["--probe", "sn"], ["--probe needs --inputs"]),
        (["--inputs", str(tmp_path / "x.npy"), "--layout", "whc"], ["--layout", "whc"]),
    ]
    for args, words in cases:
        line = error_of(cli(*base, *args))
        assert all(w in line for w in words), (args, line)
    assert not out.exists() and not list(tmp_path.glob(".o.npz*"))
