"""The shipped models in netx_models/: each file's accuracy on its whole test
split, by the reference executor, is the one its model card states, and
`lava-msf run` works on it as shipped."""

import json

import pytest

from lava_msf.cli import main
from lava_msf.data import load_dataset, load_scenes
from lava_msf.export import TorchBackend
from lava_msf.netfile import read_net
from lava_msf.reference import network_inputs, predictions
from lava_msf.runtime.evaluate import reference_readout
from lava_msf.tasks import readout_values
from lava_msf.train.dense import score

from conftest import REPO

ALL_CARDS = sorted((REPO / "netx_models").glob("*.json"))
CARDS = [p for p in ALL_CARDS if "accuracy" in json.loads(p.read_text())]  # classifiers
DENSE_CARDS = [p for p in ALL_CARDS if p not in CARDS]  # detectors and segmenters: mAP or mIoU on scene datasets
MAX_BYTES = 8 << 20


def shipped(card_path, load):
    """A card, its .net file (size-checked, with its .md) and the whole test split it was measured on."""
    card = json.loads(card_path.read_text())
    path = REPO / "netx_models" / card["file"]
    assert path.stat().st_size <= MAX_BYTES and (REPO / "netx_models" / f"{card['name']}.md").is_file()
    net = read_net(path)
    assert net.timesteps == card["timesteps"] and net.meta["data"]["dataset"] == card["dataset"]
    data = load(card["dataset"], "test", net.layers[0].shape[1], net.timesteps)
    assert len(data) == card["test_samples"]
    return card, net, data


def test_a_model_per_dataset():
    assert sorted(json.loads(p.read_text())["dataset"] for p in CARDS) == ["digits", "dvs-synth"]


@pytest.mark.slow
@pytest.mark.parametrize("card_path", CARDS, ids=lambda p: p.stem)
def test_accuracy_matches_card(card_path):
    card, net, data = shipped(card_path, load_dataset)
    correct = (predictions(reference_readout(net, network_inputs(net, data.x))) == data.y).sum()
    assert correct / len(data) == card["accuracy"]["quantized"] == card["accuracy"]["lava"]


@pytest.mark.parametrize("card_path", CARDS, ids=lambda p: p.stem)
def test_runs_on_lava_as_shipped(card_path, capsys):
    card = json.loads(card_path.read_text())
    assert main(["run", f"netx_models/{card['file']}", "--samples", "4", "--backend", "lava-cpu-fused",
                 "--no-progress", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["dataset"] == card["dataset"] and r["reference_agreement"] == 1.0


@pytest.mark.slow
@pytest.mark.parametrize("card_path", DENSE_CARDS, ids=lambda p: p.stem)
def test_map_matches_card(card_path):
    card, net, data = shipped(card_path, load_scenes)
    out = reference_readout(net, network_inputs(net, data.x), TorchBackend)
    got = score(card["task"], readout_values(net.meta, out), data, net.meta["output_stride"])
    # the integers are exact; the host's float decode (sigmoid, ranking) may move a last bit between CPUs
    headline = {k: v for k, v in card["scores"]["integer"].items() if isinstance(v, float)}  # map50, map / miou
    assert headline and {k: got[k] for k in headline} == pytest.approx(headline, abs=2e-3)
