"""The commands on detection and segmentation models (tiny sizes, untrained
but BN-calibrated): eval, export, check, run, report, inspect and stream give
the task metric, Lava and the stream equal the reference executor bit for bit,
and a task that does not fit the dataset is one error line naming the file."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from lava_msf.analysis.detection import coco_map
from lava_msf.analysis.segmentation import mean_iou
from lava_msf.cli import main
from lava_msf.data import load_scenes
from lava_msf.model import create_model
from lava_msf.netfile import read_net
from lava_msf.pipeline import offline_check, scene_chunks, scene_stream
from lava_msf.reference import Executor, network_inputs
from lava_msf.stream import EventStream
from lava_msf.tasks.evaluate import predict_outputs
from lava_msf.train import calibrate_batchnorm, save_checkpoint

SMALL = dict(embed_dim=(8, 16, 16, 16), depths=(1, 1, 1, 1, 1), heads=2, decoder_width=8, img_size=16,
             timesteps=2)
DIGITS_NET = "netx_models/msf_tiny-digits.net"


def tiny_checkpoint(path, name, dataset, **config):
    data = load_scenes(dataset, "train", 16, 2, limit=16)
    torch.manual_seed(0)
    model = create_model(name, in_channels=data.x.shape[1], num_classes=data.num_classes, **SMALL, **config)
    save_checkpoint(path, calibrate_batchnorm(model, data.x.astype(np.float32)), 1, {},
                    {"model": name, "dataset": dataset})
    return str(path)


def run_cli(capsys, *argv) -> dict:
    assert main([str(a) for a in argv] + ["--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def one_line_error(capsys, *argv) -> str:
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lava-msf: error:"), err
    return err[0]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Checkpoints and their .net exports (by `lava-msf export`): det and seg on
    digits-scenes, det on dvs-synth-scenes (deciding on the mean over T, and on the last step)."""
    d = tmp_path_factory.mktemp("dense")
    out = {}
    for key, name, dataset, config in (("det", "msf_tiny_det", "digits-scenes", {}),
                                       ("seg", "msf_tiny_seg", "digits-scenes", {}),
                                       ("dvs", "msf_tiny_det", "dvs-synth-scenes", {}),
                                       ("dvs_last", "msf_tiny_det", "dvs-synth-scenes", {"readout": "last"})):
        ckpt = tiny_checkpoint(d / f"{key}.pt", name, dataset, **config)
        assert main(["export", ckpt, "--out", str(d / f"{key}.net"), "--samples", "4"]) == 0
        out[key] = (ckpt, str(d / f"{key}.net"))
    return out


def integer_predictions(net_path, n):
    """Predictions of the reference executor on the first n test samples of the file's dataset."""
    net = read_net(net_path)
    data = load_scenes(net.meta["data"]["dataset"], "test", 16, 2, limit=n)
    return predict_outputs(net.meta, Executor(net).run(network_inputs(net, data.x)), (16, 16)), data


def test_detection_eval_export_check_run(models, capsys, tmp_path):
    ckpt, net = models["det"]
    r = run_cli(capsys, "eval", ckpt, "--samples", 8, "--pictures", tmp_path / "pics", "--pictures-count", 2)
    assert r["task"] == "detect" and r["samples"] == 8 and 0 <= r["map"] <= r["map50"] <= 1
    assert len(r["pictures"]) == 2 and Image.open(r["pictures"][0]).size[0] > 2 * 16 * 4  # prediction | truth
    pred, data = integer_predictions(net, 6)
    expected = coco_map(pred, list(zip(data.boxes, data.labels)))
    assert sum(len(p[0]) for p in pred) > 0  # the metric is not of empty predictions
    c = run_cli(capsys, "check", net, "--samples", 6, "--reference-samples", 2)
    assert c["reference_agreement"] == 1.0 and c["quantized_samples"] == 6
    assert (c["quantized_map50"], c["quantized_map"]) == (expected["map50"], expected["map"])
    r = run_cli(capsys, "run", net, "--samples", 3, "--backend", "lava-cpu-fused", "--no-progress")
    assert r["reference_agreement"] == 1.0 and r["max_abs_difference"] == 0 and r["task"] == "detect"
    assert r["map50"] == r["reference_map50"] and r["map"] == r["reference_map"]


def test_segmentation_check_run_report(models, capsys):
    ckpt, net = models["seg"]
    r = run_cli(capsys, "eval", ckpt, "--samples", 4)
    assert r["task"] == "segment" and len(r["per_class"]) == 11 and 0 <= r["miou"] <= 1
    pred, data = integer_predictions(net, 4)
    expected = mean_iou(pred, data.masks, 10)
    c = run_cli(capsys, "check", net, "--samples", 4, "--reference-samples", 2)
    assert c["reference_agreement"] == 1.0 and c["quantized_miou"] == expected["miou"]
    assert c["quantized_per_class"] == expected["per_class"]
    r = run_cli(capsys, "run", net, "--samples", 2, "--backend", "lava-cpu-fused", "--no-progress")
    assert r["reference_agreement"] == 1.0 and r["miou"] == r["reference_miou"]
    rep = run_cli(capsys, "report", net, "--samples", 2, "--no-progress")
    layers = {x["name"]: x for x in rep["network"]["layers"]}
    assert rep["dataset"] == "digits-scenes" and layers["head.up8.up"]["sops"] > 0


@pytest.mark.parametrize("source", ["net", "msf_tiny_det", "msf_15m_seg"])
def test_inspect_counts_the_decoder(models, capsys, source):
    r = run_cli(capsys, "inspect", models["det"][1] if source == "net" else source)
    convt = [x for x in r["layers"] if x["type"] == "convT"]
    assert len(convt) == 2 and all(x["synapses"] > 0 for x in convt)
    assert r["layers"][-1]["name"] == "head.head.out" and r["totals"]["synapses"] > sum(x["synapses"] for x in convt)


@pytest.mark.parametrize("key, steps", [("dvs", slice(None)), ("dvs_last", slice(-1, None))])
def test_stream_equals_offline_per_window(models, key, steps):
    """A window's decision sums the output over its steps, or takes its last step for a 'last' readout."""
    net = read_net(models[key][1])
    scenes = scene_stream(net, "dvs.net", "test", windows=3)
    with EventStream(net, scenes.sensor_size, scenes.bin_us, backend="lava-cpu-fused", t0=0) as stream:
        decisions = list(stream.run(scene_chunks(scenes, 500)))
    assert [d.window for d in decisions] == [0, 1, 2] and all(d.prediction["boxes"] for d in decisions)
    assert np.abs(np.array([d.scores for d in decisions])).sum() > 0  # not a comparison of zeros
    r = offline_check(net, scenes, decisions)
    assert r.pop("max_abs_output") > 0
    assert r == {"windows": 3, "identical_outputs": 3, "identical_predictions": 3, "identical": True}
    # the offline run: the dataset's samples (window i of the split stream is sample i)
    data = load_scenes("dvs-synth-scenes", "test", 16, 2, limit=3)
    offline = Executor(net).run(network_inputs(net, data.x))
    np.testing.assert_array_equal(np.array([d.scores for d in decisions]), offline[..., steps].sum(-1).reshape(3, -1))


def test_stream_cli_scenes_gif(models, capsys, tmp_path):
    r = run_cli(capsys, "stream", models["dvs"][1], "--scenes", "continuous", "--windows", 3, "--backend",
                "lava-cpu-fused", "--check-offline", "--gif", tmp_path / "s.gif")
    assert r["offline"]["identical"] and r["offline"]["windows"] == 3 and r["task"] == "detect"
    assert len(r["decisions"]) == 3 and "scores" not in r["decisions"][0]
    assert r["metric"]["windows"] == 3 and 0 <= r["metric"]["map50"] <= 1
    assert Image.open(tmp_path / "s.gif").n_frames == 3


def test_task_and_dataset_mismatches(models, capsys, tmp_path):
    det_ckpt, det = models["det"]
    for command in ("check", "run", "report"):
        line = one_line_error(capsys, command, DIGITS_NET, "--dataset", "digits-scenes")
        assert DIGITS_NET in line and "classification network" in line and "scene dataset" in line
        line = one_line_error(capsys, command, det, "--dataset", "digits")
        assert det in line and "detect network" in line and "digits is not a scene dataset" in line
    assert "not a scene dataset" in one_line_error(capsys, "eval", det_ckpt, "--dataset", "dvs-synth")
    assert "scene dataset" in one_line_error(capsys, "eval", tiny_classifier(tmp_path), "--dataset", "digits-scenes")
    line = one_line_error(capsys, "run", det, "--dataset", "dvs-synth-scenes", "--samples", 1)
    assert det in line and "(1, 16, 16)" in line and "(2, 16, 16)" in line
    assert "classification network" in one_line_error(capsys, "stream", DIGITS_NET, "--scenes", "test")
    assert "classification network" in one_line_error(capsys, "stream", DIGITS_NET, "--events", "x.h5", "--gif",
                                                      tmp_path / "x.gif")
    assert "(2, S, S)" in one_line_error(capsys, "stream", models["seg"][1], "--scenes", "test")
    assert "needs --scenes" in one_line_error(capsys, "stream", models["dvs"][1], "--events", "x.h5",
                                              "--check-offline")
    assert not (tmp_path / "x.gif").exists()


def tiny_classifier(tmp_path):
    path = tmp_path / "cls.pt"
    save_checkpoint(path, create_model("msf_micro"), 1, {})
    return path
