"""The CLI on bad input: one line on stderr naming the problem, exit 2, no traceback."""

import json
import subprocess
import sys

import pytest
import torch

from lava_msf import create_model
from lava_msf.train import save_checkpoint


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "lava_msf", *args], capture_output=True, text=True,
                          timeout=300, env=env)


def assert_one_line_error(proc, *words):
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("lava-msf: error:")]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in lines[0]


@pytest.fixture(scope="module")
def rgb_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "rgb.pt"
    save_checkpoint(path, create_model("msf_micro", in_channels=3), epoch=1, metrics={})
    return path


def test_unknown_model(tmp_path):
    assert_one_line_error(cli("train", "--model", "msf_giant", "--out", str(tmp_path)), "unknown model", "msf_giant")


def test_unknown_dataset(tmp_path):
    assert_one_line_error(cli("train", "--dataset", "imagenet", "--out", str(tmp_path)), "unknown dataset", "imagenet")


def test_missing_checkpoint(tmp_path):
    missing = tmp_path / "nope.pt"
    assert_one_line_error(cli("eval", str(missing)), "checkpoint not found", str(missing))


@pytest.mark.parametrize("content", [b"", b"garbage" * 100, b"PK\x03\x04 truncated zip"])
def test_corrupt_checkpoint(tmp_path, content):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(content)
    assert_one_line_error(cli("eval", str(bad)), str(bad), "not a readable checkpoint")


def test_checkpoint_that_is_not_ours(tmp_path):
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    assert_one_line_error(cli("eval", str(other)), "not a lava-msf checkpoint")


def test_wrong_input_shape(rgb_checkpoint):
    assert_one_line_error(cli("eval", str(rgb_checkpoint), "--dataset", "digits"),
                          "expects input (3, 32, 32)", "digits gives (1, 32, 32)")


def test_eval_json_and_models_list(tmp_path):
    ckpt = tmp_path / "micro.pt"
    save_checkpoint(ckpt, create_model("msf_micro"), epoch=3, metrics={})
    proc = cli("eval", str(ckpt), "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["samples"] == 360 and 0.0 <= result["accuracy"] <= 1.0 and result["epoch"] == 3
    models = json.loads(cli("models", "--json").stdout)
    assert models["msf_8_512"]["embed_dim"] == [128, 256, 512, 640]


def test_pipeline_trains_exports_and_runs_on_lava(tmp_path):
    proc = cli("pipeline", "--model", "msf_micro", "--epochs", "1", "--timesteps", "2", "--limit-train", "16",
               "--limit-test", "8", "--lava-samples", "3", "--out", str(tmp_path / "p"), "--no-progress", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["checkpoint"] == str(tmp_path / "p" / "best.pt") and result["best_epoch"] == 1
    for key in ("test_accuracy", "float_neuron_test_accuracy", "test_firing_rate", "quantized_test_accuracy"):
        assert 0.0 <= result[key] <= 1.0
    assert result["reference_vs_torch_backend_agreement"] == 1.0 and (tmp_path / "p" / "model.net").is_file()
    lava = result["lava"]
    assert lava["backend"] == "lava-cpu" and lava["samples"] == 3 and lava["reference_agreement"] == 1.0
    assert lava["accuracy"] == lava["reference_accuracy"] and 0.0 <= lava["torch_accuracy"] <= 1.0


def test_export_and_check(tmp_path):
    from lava_msf.data import load_dataset

    model = create_model("msf_micro", timesteps=2)
    data = load_dataset("digits", "train", 32)
    model.train()
    with torch.no_grad():
        model(torch.from_numpy(data.x[:64]))
    ckpt = tmp_path / "micro.pt"
    save_checkpoint(ckpt, model.eval(), epoch=1, metrics={})
    net = tmp_path / "micro.net"
    proc = cli("export", str(ckpt), "--out", str(net), "--samples", "24", "--json")
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert r["samples"] == 24 and r["layers"] > 30 and 0 <= r["quantized_accuracy"] <= 1
    assert r["quantization"]["stem.conv"]["weight_rel_error"] < 0.05
    proc = cli("check", str(net), "--samples", "24", "--reference-samples", "3", "--json")
    assert proc.returncode == 0, proc.stderr
    r2 = json.loads(proc.stdout)
    assert r2["reference_agreement"] == 1.0 and r2["quantized_accuracy"] == r["quantized_accuracy"]


def test_check_bad_net_file(tmp_path):
    bad = tmp_path / "bad.net"
    bad.write_bytes(b"not hdf5")
    assert_one_line_error(cli("check", str(bad)), str(bad), "not an HDF5 file")


def test_export_bad_checkpoint(tmp_path):
    assert_one_line_error(cli("export", str(tmp_path / "none.pt"), "--out", str(tmp_path / "x.net")),
                          "checkpoint not found")
    assert not (tmp_path / "x.net").exists()
