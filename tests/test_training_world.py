"""Checkpoints resume across world sizes: saved by a 2-process torchrun, resumed
in one process, the schedule continues by epoch (steps per epoch double)."""

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lava_msf.train import TrainArgs, read_checkpoint, train


@pytest.mark.slow
def test_resume_a_two_process_checkpoint_in_one_process(tmp_path):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    assert torchrun, "torchrun is installed with torch"
    out, n, batch, lr = tmp_path / "run", 16, 4, 4e-3
    common = ["--model", "msf_micro", "--timesteps", "1", "--batch-size", str(batch), "--limit-train", str(n),
              "--limit-test", "8", "--lr", str(lr), "--out", str(out), "--no-progress"]
    proc = subprocess.run([torchrun, "--standalone", "--nproc_per_node=2", "-m", "lava_msf", "train", "--epochs", "1",
                           *common], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    saved = read_checkpoint(out / "last.pt")
    assert saved["metrics"]["world_size"] == 2 and saved["scheduler"]["last_epoch"] == n // 2 // batch

    metrics = train(TrainArgs(model="msf_micro", timesteps=1, batch_size=batch, limit_train=n, limit_test=8, lr=lr,
                              out=str(out), progress=False, epochs=3, resume=True))
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [m["world_size"] for m in log] == [2, 1, 1] and metrics["epoch"] == 3
    # one process: 4 steps per epoch; epoch 2 ends at step 8 of 12, after 4 warm-up steps
    steps, warm, total = 2 * n // batch, n // batch, 3 * n // batch
    expected = lr * 0.5 * (1 + math.cos(math.pi * (steps - warm) / (total - warm)))
    assert abs(log[1]["lr"] - expected) < 1e-9 and abs(expected - lr * 0.5) < 1e-9
