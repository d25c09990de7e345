"""Import of official SDT-V2 checkpoints: equal logits in float neuron mode,
every tensor accounted for, typed errors, no code run from the file, and the
usual path (deploy neuron, fine-tune, export, inspect) from there."""

import argparse
import json
import os

import pytest
import torch

from lava_msf import import_official
from lava_msf.cli import main
from lava_msf.errors import CheckpointError, ConfigError
from lava_msf.model.neuron import spiking_neurons
from lava_msf.model.official import official_key_map
from official_sdt import OfficialSDT, randomize

IMG = 32  # the official model is size-agnostic; small inputs keep the test fast


@pytest.fixture(scope="module")
def official():
    return randomize(OfficialSDT("15m", num_classes=10, kd=True, T=2), seed=3)


def _images(n=3, channels=3, seed=1):
    return torch.rand(n, channels, IMG, IMG, generator=torch.Generator().manual_seed(seed))


def test_float_logits_equal_official(official):
    m = import_official(official.state_dict(), "15m", timesteps=2, img_size=IMG)
    x = _images()
    with torch.no_grad():
        want, got = official(x), m(x)
    assert got.shape == (3, 10) and m.timesteps == 2
    assert (want - got).abs().max().item() <= 1e-4
    # The comparison means something: neurons fire, but not all of them always.
    rates = [n.last_rate for n in spiking_neurons(m)]
    assert 0.05 < sum(rates) / len(rates) < 0.95 and min(rates) < 0.5 < max(rates)


def test_every_tensor_accounted_for(official):
    state = official.state_dict()
    state["extra.weight"] = torch.zeros(3)
    r = import_official(state, "15m", img_size=IMG).import_report
    assert set(r.consumed) == set(official_key_map())
    assert set(r.folded) == {"head_kd.weight", "head_kd.bias"}
    assert all(k.endswith("num_batches_tracked") for k in r.skipped)
    assert r.unused == ["extra.weight"]
    assert len(r.consumed) + len(r.folded) + len(r.skipped) + len(r.unused) == len(state)
    assert (r.num_classes, r.in_channels, r.timesteps) == (10, 3, 1)  # T: the official default


def test_official_save_model_file(official, tmp_path):
    """save_model()'s dict: weights under 'model', optimizer state, and the argparse
    Namespace the weights-only loader refuses. T comes from args.time_steps; a
    global the file names is never called."""
    marker = tmp_path / "code-ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "checkpoint-299.pth"
    torch.save({"model": official.state_dict(), "optimizer": {"state": {}, "param_groups": []},
                "epoch": 299, "args": argparse.Namespace(time_steps=2, model="metaspikformer_15m"),
                "payload": Payload()}, path)
    m = import_official(path, "15m", img_size=IMG)
    assert not marker.exists()
    assert m.timesteps == 2
    x = _images()
    with torch.no_grad():
        assert (official(x) - m(x)).abs().max().item() <= 1e-4


def test_errors_name_the_key(official, tmp_path):
    state = dict(official.state_dict())
    state["block3.2.mlp.fc1_conv.weight"] = torch.zeros(5, 5, 1)
    with pytest.raises(CheckpointError, match=r"block3\.2\.mlp\.fc1_conv\.weight"):
        import_official(state, "15m", img_size=IMG)
    with pytest.raises(CheckpointError, match=r"downsample1_1\.encode_conv\.weight.*expects \(48, 3, 7, 7\).*wrong variant"):
        import_official(official.state_dict(), "8_384", img_size=IMG)
    state = dict(official.state_dict())
    del state["block4.1.attn.proj_conv.1.running_var"]
    with pytest.raises(CheckpointError, match=r"block4\.1\.attn\.proj_conv\.1\.running_var"):
        import_official(state, "15m", img_size=IMG)
    with pytest.raises(ConfigError, match="variant"):
        import_official(official.state_dict(), "15M")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(CheckpointError, match="bad.pth"):
        import_official(bad, "15m")


@pytest.mark.slow
def test_import_then_deploy_finetune_export_inspect(tmp_path, capsys):
    """The CLI path: import-sdt, fine-tune with the deployable neuron on digits
    (a new 10-class head for a 1000-class import), export, inspect."""
    official = randomize(OfficialSDT("15m", in_channels=1, num_classes=1000), seed=5)
    src, ckpt, out = tmp_path / "official.pth", tmp_path / "imported.pt", tmp_path / "ft"
    torch.save({"model": official.state_dict()}, src)
    assert main(["import-sdt", str(src), "--variant", "15m", "--out", str(ckpt), "--img-size", str(IMG),
                 "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["consumed"] == len(official_key_map()) and r["unused"] == [] and r["num_classes"] == 1000
    assert main(["train", "--init", str(ckpt), "--neuron", "deploy", "--timesteps", "1", "--epochs", "1",
                 "--limit-train", "16", "--limit-test", "8", "--batch-size", "8", "--out", str(out),
                 "--no-progress", "--json"]) == 0
    capsys.readouterr()
    state = torch.load(out / "best.pt", weights_only=True)
    assert state["config"]["neuron"] == "deploy" and state["config"]["num_classes"] == 10
    assert state["config"]["name"] == "msf_15m" and state["config"]["timesteps"] == 1
    assert main(["export", str(out / "best.pt"), "--out", str(tmp_path / "ft.net"), "--samples", "4",
                 "--json"]) == 0
    capsys.readouterr()
    assert main(["inspect", str(tmp_path / "ft.net"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["totals"]["neurons"] > 0
