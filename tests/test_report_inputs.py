"""`lava-msf report NET --inputs FILE` and `inspect` on the 6 NetX files lava-dl
ships: per layer, under the file's own layer names, the report's rates are the
reference executor's and its synaptic operations are messages x fan-out; graded
(sigma-delta) messages, recurrence, delays, average, pool/convT/unpool/concat
priced by what drives them; bad --inputs in one line."""

import json

import h5py
import numpy as np
import pytest

from lava_msf.analysis import E_AC_PJ, E_MAC_PJ, energy, measure_rates
from lava_msf.analysis.report import Frames, analyze
from lava_msf.chip.loihi2 import LOIHI2
from lava_msf.cli import main
from lava_msf.netfile import read_net
from lava_msf.reference import Executor

from netx_stock import netx_file
from test_delay_rec_average import dense_chain
from test_layer_types_dense_prediction import fpn_net

FILES = ["mnist.net", "tiny.net", "gts/pilotnet_lif/network.net", "gts/pilotnet_sdnn/network.net",
         "gts/pilotnet_sdnn/square_network.net", "gts/ntidigits/ntidigits.net"]
STEPS = {"gts/pilotnet_lif/network.net": 2, "gts/pilotnet_sdnn/network.net": 2}  # 200 x 66 x 3 frames: tiny T


def file_layer_names(path) -> list:
    """The layer names a plain NetX file gives: layer<group>, NetX's flatten groups dropped."""
    with h5py.File(path, "r") as f:
        groups = sorted(f["layer"], key=int)
        return [f"layer{k}" for k in groups if f[f"layer/{k}/type"][()].reshape(-1)[0] != b"flatten"]


def frames_for(net, steps, n=2, seed=0) -> np.ndarray:
    """Small random frames (N, C, H, W, T): currents for an input neuron, else spikes."""
    rng = np.random.default_rng(seed)
    shape = (n, *net.layers[0].shape, steps)
    return rng.integers(0, 128, shape) if net.graded_input else (rng.random(shape) < 0.3).astype(np.int64)


def probe_counts(net, frames) -> dict:
    """Per layer name: nonzero values per sample and the rate, straight from the executor's probes."""
    probes = {}
    Executor(net).run(frames, probes)
    out = {}
    for name, steps in probes.items():
        nonzero = sum(np.count_nonzero(v) for v in steps)
        out[name] = (nonzero / len(frames), nonzero / sum(v.size for v in steps))
    return out


def report(capsys, *args) -> dict:
    assert main(["report", *map(str, args), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def one_error(capsys, *args) -> str:
    assert main(list(map(str, args))) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lava-msf: error: "), err
    return err[0]


@pytest.mark.parametrize("relative", FILES)
def test_report_and_inspect_per_layer_with_the_files_names(relative, tmp_path, capsys):
    path = netx_file(relative)
    net = read_net(path)
    names = file_layer_names(path)
    assert [x.name for x in net.layers] == names and len(set(names)) == len(names)
    frames = frames_for(net, STEPS.get(relative, 4))
    np.save(tmp_path / "x.npy", frames)
    r = report(capsys, path, "--inputs", tmp_path / "x.npy", "--out", tmp_path / "r.json")
    assert r == json.loads((tmp_path / "r.json").read_text())
    assert r["inputs"] == str(tmp_path / "x.npy") and r["dataset"] is None and r["samples"] == 2
    n = r["network"]
    assert n["timesteps"] == frames.shape[-1]
    rows = [x["name"] for x in n["layers"]]
    assert len(set(rows)) == len(rows) and set(rows) <= set(names) and rows
    counted = probe_counts(net, frames)
    assert set(n["firing_rates"]) == {x.name for x in net.layers if x.neuron is not None or x.spiking}
    for name, rate in n["firing_rates"].items():
        assert rate == pytest.approx(counted[name][1], rel=1e-12), name
    assert any(0 < rate < 1 for rate in n["firing_rates"].values())
    sdnn = "sdnn" in relative
    assert set(n["graded_layers"]) == (set(n["firing_rates"]) if sdnn else set())
    for row in n["layers"]:  # SDNN: graded messages, a MAC each; else spikes (NetX's input neuron), or frames
        assert row["op"] == ("MAC" if sdnn or row["driven_by"] == ["layer0"] and net.layers[0].neuron is None
                             else "AC"), row
        price = E_MAC_PJ if row["op"] == "MAC" else E_AC_PJ
        assert row["energy_pj"] == pytest.approx(price * row["sops"], rel=1e-12)
    assert n["totals"]["energy_pj"] == pytest.approx(sum(x["energy_pj"] for x in n["layers"]), rel=1e-12)

    assert main(["inspect", path, "--json"]) == 0
    inspected = json.loads(capsys.readouterr().out)["layers"]
    assert [x["name"] for x in inspected] == names
    # what the input layer sends: NetX's input neuron spikes, its SDNN Delta graded messages, or frames
    assert inspected[1]["message_bits"] == (LOIHI2["message_bits"] if sdnn else 0)


def test_synaptic_operations_are_messages_times_fan_out(tmp_path, capsys):
    """Dense layers, counted by hand from the executor's probes: spikes (mnist: an
    AC each) and sigma-delta graded messages (PilotNet SDNN: a MAC each)."""
    path = netx_file("mnist.net")
    net = read_net(path)
    frames = frames_for(net, 3, n=3, seed=4)
    np.save(tmp_path / "x.npy", frames)
    rows = {x["name"]: x for x in report(capsys, path, "--inputs", tmp_path / "x.npy")["network"]["layers"]}
    counted = probe_counts(net, frames)
    for name, src, fan_out in (("layer1", "layer0", 512), ("layer2", "layer1", 512), ("layer3", "layer2", 10)):
        assert rows[name]["driven_by"] == [src] and rows[name]["op"] == "AC"
        assert rows[name]["sops"] == pytest.approx(counted[src][0] * fan_out, rel=1e-12)
        assert rows[name]["messages"] == pytest.approx(counted[src][0], rel=1e-12)
    assert counted["layer1"][0] > 0

    path = netx_file("gts/pilotnet_sdnn/network.net")
    net = read_net(path)
    frames = frames_for(net, 2, n=1, seed=5)
    r = analyze(net, Frames("x", frames), progress=False)["network"]
    rows = {x["name"]: x for x in r["layers"]}
    counted = probe_counts(net, frames)
    for name, src, fan_out in (("layer7", "layer6", 50), ("layer8", "layer7", 10), ("layer9", "layer8", 1)):
        assert rows[name]["op"] == "MAC" and rows[name]["driven_by"] == [src]
        assert rows[name]["sops"] == pytest.approx(counted[src][0] * fan_out, rel=1e-12)
        assert rows[name]["energy_pj"] == pytest.approx(E_MAC_PJ * counted[src][0] * fan_out, rel=1e-12)
    assert counted["layer6"][0] > 0
    # the input's delta encoder sends only changes: its first conv is priced by them, not every value
    assert rows["layer1"]["input_rate"] == pytest.approx(counted["layer0"][1], rel=1e-12)


def test_recurrence_delays_and_average_are_counted_per_message():
    """dense_rec: the forward sum per input spike, the recurrent one per own spike
    (fan-out 5 each); delayed dense layers per spike as undelayed; average one
    accumulate per spike; the neuron-less input's frames a MAC per value."""
    net = dense_chain()
    frames = (np.random.default_rng(2).random((3, 2, 3, 3, 12)) < 0.5).astype(np.int64)
    rows = {x["name"]: x for x in energy(net, measure_rates(net, frames, progress=False)["rates"])["layers"]}
    counted = {k: v[0] for k, v in probe_counts(net, frames).items()}
    assert counted["rec"] > 0 and counted["d_one"] > 0
    rec = rows["rec"]
    assert rec["driven_by"] == ["d_one", "rec"] and rec["flops"] == 5 * 6 + 5 * 5 and rec["op"] == "AC"
    assert rec["sops"] == pytest.approx(5 * counted["d_one"] + 5 * counted["rec"], rel=1e-12)
    assert rows["d_full"]["sops"] == pytest.approx(6 * counted["d_in"], rel=1e-12)
    assert rows["d_out"]["sops"] == pytest.approx(4 * counted["rec"], rel=1e-12)
    assert rows["avg"]["sops"] == pytest.approx(counted["d_out"], rel=1e-12) and rows["avg"]["op"] == "AC"
    assert rows["d_in"]["op"] == "MAC" and rows["d_in"]["sops"] == 8 * 18 * 12 and rows["d_in"]["input_rate"] is None


def test_pool_unpool_concat_are_counted_per_message():
    """pool 2x2 stride 2: each spike reaches one output; unpool 2x2 stride 2: four
    per channel; concat does no operation, the layer after it is driven by its spikes."""
    net = fpn_net()
    frames = (np.random.default_rng(3).random((2, 2, 8, 8, 4)) < 0.4).astype(np.int64)
    rates = measure_rates(net, frames, progress=False)["rates"]
    rows = {x["name"]: x for x in energy(net, rates)["layers"]}
    counted = {k: v[0] for k, v in probe_counts(net, frames).items()}
    assert counted["stem"] > 0 and counted["pool"] > 0
    assert rows["pool"]["sops"] == pytest.approx(counted["stem"], rel=1e-12)
    assert rows["unpool"]["sops"] == pytest.approx(4 * counted["pool"], rel=1e-12)
    assert "cat" not in rows and rows["out"]["driven_by"] == ["cat"]
    assert rows["out"]["input_rate"] == pytest.approx(rates["cat"], rel=1e-12)


def test_layouts_transform_and_plots(tmp_path, capsys):
    """The same frames in NetX's layout give the same report; --transform equals
    the transformed integers; --plots on a sigma-delta network draws its graded layers."""
    path = netx_file("mnist.net")
    net = read_net(path)
    frames = frames_for(net, 3)
    np.save(tmp_path / "x.npy", frames)
    np.savez(tmp_path / "netx.npz", x=frames.reshape(2, 784, 3))  # NetX: (N, C, T) for C neurons
    a = report(capsys, path, "--inputs", tmp_path / "x.npy")
    b = report(capsys, path, "--inputs", f"{tmp_path / 'netx.npz'}:x", "--layout", "netx")
    assert a["network"] == b["network"]
    first = report(capsys, path, "--inputs", tmp_path / "x.npy", "--samples", "1")
    assert first["samples"] == 1
    assert first["network"]["firing_rates"]["layer1"] == pytest.approx(
        probe_counts(net, frames[:1])["layer1"][1], rel=1e-12)
    reals = np.random.default_rng(1).random((2, 784, 1, 1, 3))
    np.save(tmp_path / "reals.npy", reals)
    np.save(tmp_path / "ints.npy", np.rint(reals * 76 + 64).astype(np.int64))  # the file's weight 76, bias 64
    c = report(capsys, path, "--inputs", tmp_path / "reals.npy", "--transform")
    d = report(capsys, path, "--inputs", tmp_path / "ints.npy")
    assert c["network"] == d["network"] and c["network"]["totals"]["sops"] > 0

    path = netx_file("gts/pilotnet_sdnn/square_network.net")
    np.save(tmp_path / "sq.npy", frames_for(read_net(path), 2, n=1))
    plots = tmp_path / "plots"
    r = report(capsys, path, "--inputs", tmp_path / "sq.npy", "--plots", plots)
    assert r["raster_layers"] == ["layer0", "layer2", "layer4"]  # graded layers: first, middle, last
    assert {p.name for p in plots.iterdir()} == {"firing_rates.png", "energy.png", "raster_layer0.png",
                                                 "raster_layer2.png", "raster_layer4.png"}
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in plots.iterdir())
    assert main(["report", path, "--inputs", str(tmp_path / "sq.npy"), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "no labels: no accuracy" in text and "accuracy " not in text and "graded messages" in text


def test_bad_inputs_are_one_line(tmp_path, capsys):
    path = netx_file("mnist.net")
    err = one_error(capsys, "report", path)
    assert "pass --inputs" in err and "mnist.net" in err
    assert "pass --inputs" in one_error(capsys, "report", netx_file("gts/pilotnet_sdnn/network.net"))
    np.save(tmp_path / "wrong.npy", np.zeros((2, 783, 1, 1, 3), dtype=np.int64))
    err = one_error(capsys, "report", path, "--inputs", tmp_path / "wrong.npy")
    assert "wrong.npy" in err and "(2, 783, 1, 1, 3)" in err and "(784, 1, 1)" in err
    err = one_error(capsys, "report", path, "--inputs", tmp_path / "missing.npy")
    assert "missing.npy" in err and "no such file" in err
    np.save(tmp_path / "ok.npy", np.zeros((1, 784, 1, 1, 2), dtype=np.int64))
    assert "--checkpoint and --inputs" in one_error(capsys, "report", path, "--inputs", tmp_path / "ok.npy",
                                                    "--checkpoint", tmp_path / "ok.npy")
    assert "--dataset and --inputs" in one_error(capsys, "report", path, "--inputs", tmp_path / "ok.npy",
                                                 "--dataset", "digits")
    assert "--layout needs --inputs" in one_error(capsys, "report", path, "--layout", "netx")
    assert "it is also an input" in one_error(capsys, "report", path, "--inputs", tmp_path / "ok.npy",
                                              "--out", tmp_path / "ok.npy")
    assert not (tmp_path / "plots").exists()
