"""Spike and energy analysis: FLOPs per layer type, the SDT energy formula,
measured rates, torch-model rates mapped to the graph, the CLI and its plots."""

import json

import numpy as np
import pytest

from lava_msf.analysis import E_AC_PJ, E_MAC_PJ, analyze, energy, layer_flops, measure_rates
from lava_msf.cli import main
from lava_msf.data import load_dataset
from lava_msf.errors import ConfigError
from lava_msf.export import export_network
from lava_msf.reference import Executor

from conftest import REPO, warmed_model
from small_nets import small_net

DIGITS_NET = REPO / "netx_models" / "msf_tiny-digits.net"


def test_flops_per_layer_type():
    net = small_net()
    assert layer_flops(net, 1) == 4 * 36 * 2 * 9  # conv: out elements x in channels x kernel
    assert layer_flops(net, 3) == 4 * 36 * 1 * 9  # depthwise: one input channel per output
    assert layer_flops(net, 4) == 8 * 36 * 4
    assert layer_flops(net, 6) == 2 * 36 * 8 * 4  # v2: N d^2 per head, twice (K^T V, then Q)
    assert layer_flops(net, 7) == 3 * 8 * 36
    assert layer_flops(net, 2) == 0  # a neuron layer is not an operator


def test_energy_formula():
    net = small_net()
    rates = {"input": 0.5, "sn": 0.2, "pw": 0.1, "q": 0.3, "attn": 0.05}
    r = energy(net, rates)
    rows = {x["name"]: x for x in r["layers"]}
    assert rows["stem"]["op"] == "MAC" and rows["stem"]["energy_pj"] == pytest.approx(E_MAC_PJ * 2592 * 3)
    # pw reads the depthwise conv's current: driven by the spikes that feed dw
    assert rows["pw"]["driven_by"] == ["sn"] and rows["pw"]["input_rate"] == 0.2
    assert rows["pw"]["energy_pj"] == pytest.approx(E_AC_PJ * 1152 * 3 * 0.2)
    assert rows["attn"]["input_rate"] == 0.3
    assert rows["fc"]["sops"] == pytest.approx(864 * 3 * 0.05)
    assert r["totals"]["energy_pj"] == pytest.approx(sum(x["energy_pj"] for x in r["layers"]))
    assert r["totals"]["mac_energy_pj"] + r["totals"]["ac_energy_pj"] == pytest.approx(r["totals"]["energy_pj"])


def test_measured_rates_are_the_executors():
    net = small_net()
    x = (np.random.default_rng(1).random((5, 2, 6, 6, 3)) < 0.5).astype(np.float32)
    m = measure_rates(net, x, batch=2, raster_layers=["pw"], raster_samples=2, progress=False)
    probes = {}
    Executor(net).run(x.astype(np.int64), probes)
    for name, values in probes.items():
        assert m["rates"][name] == pytest.approx(np.mean([np.count_nonzero(v) / v.size for v in values]))
    raster = m["rasters"]["pw"]  # (neurons, samples x T), sample 0's steps first
    assert raster.shape == (8 * 36, 2 * 3)
    assert np.array_equal(raster[:, 1], probes["pw"][1][0].reshape(-1))
    assert np.array_equal(raster[:, 3], probes["pw"][0][1].reshape(-1))


def test_torch_rates_follow_the_graph():
    """The torch model's rates land on the graph's layers: close to the integer
    network's (the same model up to quantization), one per spiking layer."""
    model = warmed_model("msf_micro")
    data = load_dataset("digits", "test", 32, model.timesteps, limit=16)
    r = analyze(export_network(model), data, model, progress=False)
    net_rates, torch_rates = r["network"]["firing_rates"], r["torch"]["firing_rates"]
    assert net_rates.keys() == torch_rates.keys()
    diffs = np.array([abs(net_rates[k] - torch_rates[k]) for k in net_rates])
    assert np.median(diffs) < 0.02 and diffs.max() < 0.15
    assert 0 < r["torch"]["totals"]["energy_pj"]
    assert abs(r["torch"]["totals"]["energy_pj"] / r["network"]["totals"]["energy_pj"] - 1) < 0.2


def test_report_cli_with_plots(tmp_path, capsys):
    plots, out = tmp_path / "plots", tmp_path / "report.json"
    assert main(["report", str(DIGITS_NET), "--samples", "8", "--plots", str(plots), "--out", str(out),
                 "--raster", "stage3.1.sdsa.attention", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r == json.loads(out.read_text())
    assert r["dataset"] == "digits" and r["samples"] == 8 and r["torch"] is None  # dataset from the file
    assert r["network"]["layers"][0]["op"] == "MAC"
    assert {p.name for p in plots.iterdir()} == {"firing_rates.png", "energy.png",
                                                 "raster_stage3.1.sdsa.attention.png"}
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in plots.iterdir())
    assert main(["report", str(DIGITS_NET), "--samples", "2", "--raster", "nope"]) == 2
    assert "nope" in capsys.readouterr().err


def test_checkpoint_must_match_the_network():
    model = warmed_model("msf_micro")
    data = load_dataset("digits", "test", 32, model.timesteps, limit=2)
    from lava_msf.netfile import read_net

    with pytest.raises(ConfigError, match="checkpoint"):
        analyze(read_net(DIGITS_NET), data, model, progress=False)
