import os
import sys
from pathlib import Path

import pytest
import torch

from lava_msf import create_model
from lava_msf.data import load_dataset
from lava_msf.train import calibrate_batchnorm

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def deterministic_torch():
    """For tests that compare two float runs bit for bit on the same machine: torch's
    deterministic algorithms and a fixed thread count (reduction order follows it)."""
    threads = torch.get_num_threads()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(2)
    yield
    torch.use_deterministic_algorithms(False)
    torch.set_num_threads(threads)


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
    return calibrate_batchnorm(model, data.x)
