"""A model configuration (from a checkpoint, an official file or the API) is
bounded before any tensor exists: sizes that would need more memory than the
machine has, and values of the wrong type, are one-line ConfigErrors."""

import subprocess
import sys

import pytest
import torch

from lava_msf import create_model
from lava_msf.errors import CheckpointError, ConfigError
from lava_msf.model.registry import model_config
from lava_msf.train import load_model, save_checkpoint


@pytest.mark.parametrize("override", [dict(img_size=2 ** 20), dict(timesteps=2 ** 40),
                                      dict(num_classes=10 ** 12), dict(embed_dim=(8, 16, 2 ** 20, 16))])
def test_sizes_beyond_the_machine_are_refused_before_allocating(override):
    with pytest.raises(ConfigError, match="needs about .* GiB .* more than the .* GiB this process may use"):
        create_model("msf_micro", **override)


@pytest.mark.parametrize("override", [dict(embed_dim="abc"), dict(embed_dim=[8.5, 16, 16, 16]),
                                      dict(depths=[1, 1]), dict(heads=0), dict(timesteps=True),
                                      dict(mlp_ratio=float("inf")), dict(embed_dim=[float("inf")] * 4)])
def test_values_of_the_wrong_type_or_arity_are_refused(override):
    with pytest.raises(ConfigError):
        model_config("msf_micro", **override)


def test_paper_sizes_stay_accepted():
    for name in ("msf_15m", "msf_8_768"):
        assert model_config(name)["img_size"] == 224


@pytest.mark.parametrize("key, value", [("img_size", 2 ** 24), ("name", ["msf_micro"]), ("embed_dim", "x")])
def test_checkpoint_config_is_bounded(tmp_path, key, value):
    path = tmp_path / "c.pt"
    save_checkpoint(path, create_model("msf_micro"), epoch=1, metrics={})
    state = torch.load(path, weights_only=True)
    state["config"][key] = value
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="bad model config"):
        load_model(path)
    proc = subprocess.run([sys.executable, "-m", "lava_msf", "eval", str(path)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert [ln for ln in proc.stderr.splitlines() if ln.startswith("lava-msf: error:")], proc.stderr
