import os
import sys
from pathlib import Path

import pytest
import torch

from lava_msf import create_model
from lava_msf.data import load_dataset

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def cli_env():
    """Environment for running the installed CLI in a subprocess."""
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def python():
    return sys.executable


def warmed_model(name, dataset="digits", **kw):
    """A model with BatchNorm statistics of real data, so that it spikes sensibly."""
    torch.manual_seed(0)
    model = create_model(name, **kw)
    data = load_dataset(dataset, "train", model.config["img_size"], model.timesteps, limit=256)
    model.train()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm3d):
            m.momentum = None  # cumulative average over the warm-up batches
    with torch.no_grad():
        for i in range(0, 256, 64):
            model(torch.from_numpy(data.x[i:i + 64]).float())
    return model.eval()
