import json
import shutil
import subprocess
import sys

import pytest
import torch

from lava_msf.data import load_dataset
from lava_msf.errors import CheckpointError
from lava_msf.train import TrainArgs, load_model, read_checkpoint, train
from lava_msf.train import trainer as trainer_mod


def micro_args(out, **kw):
    base = dict(model="msf_micro", out=str(out), epochs=2, batch_size=16, timesteps=2,
                limit_train=48, limit_test=16, progress=False, lr=5e-3)
    base.update(kw)
    return TrainArgs(**base)


def train_loss(model, n=48):
    data = load_dataset("digits", "train", model.config["img_size"])
    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(data.x[:n]))
        return float(torch.nn.functional.cross_entropy(logits, torch.from_numpy(data.y[:n])))


def test_training_overfits_one_fixed_batch(tmp_path):
    """Eight fixed samples in one batch, 40 steps, no augmentation or smoothing: the
    loss falls to well under 0.6x its start. Over seeds 0-4 (a far larger
    perturbation than any CPU's rounding) the final/first ratio was 0.08-0.37,
    so the margin holds on every machine; a broken optimizer or gradient stays near 1."""
    args = micro_args(tmp_path / "run", epochs=40, batch_size=8, lr=3e-2, limit_train=8, limit_test=4,
                      max_shift=0, warmup_epochs=0, label_smoothing=0.0)
    torch.manual_seed(args.seed)
    from lava_msf import create_model

    before = train_loss(create_model("msf_micro", timesteps=2), 8)
    train(args)
    model, state = load_model(tmp_path / "run" / "last.pt")
    assert state["epoch"] == 40
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in log] == list(range(1, 41))
    assert all(0 < m["train_firing_rate"] < 1 and "test_accuracy" in m for m in log)
    assert log[-1]["train_loss"] < 0.6 * log[0]["train_loss"]
    assert train_loss(model, 8) < 0.6 * before  # eval mode, BatchNorm running statistics


def test_checkpoint_holds_weights_and_config_only(tmp_path):
    train(micro_args(tmp_path, epochs=1))
    state = torch.load(tmp_path / "best.pt", weights_only=True)  # no pickled objects
    assert set(state) == {"format", "version", "config", "state_dict", "epoch", "metrics", "train_args"}
    assert "optimizer" in read_checkpoint(tmp_path / "last.pt")


def test_resume_continues_exactly_from_the_saved_epoch(tmp_path, monkeypatch, deterministic_torch):
    """Bit-equal weights: both runs are in this process, with deterministic algorithms
    and one thread count (the deterministic_torch fixture), so no kernel choice differs."""
    straight = tmp_path / "straight"
    train(micro_args(straight))

    interrupted = tmp_path / "interrupted"
    real_save = trainer_mod.save_checkpoint

    def save_then_die(path, *a, **kw):
        real_save(path, *a, **kw)
        if path.name == "last.pt":
            raise KeyboardInterrupt  # Ctrl-C right after epoch 1 is saved

    monkeypatch.setattr(trainer_mod, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train(micro_args(interrupted))
    monkeypatch.setattr(trainer_mod, "save_checkpoint", real_save)
    assert read_checkpoint(interrupted / "last.pt")["epoch"] == 1

    train(micro_args(interrupted, resume=True))
    a = read_checkpoint(straight / "last.pt")["state_dict"]
    b = read_checkpoint(interrupted / "last.pt")["state_dict"]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    epochs = [json.loads(x)["epoch"] for x in (interrupted / "log.jsonl").read_text().splitlines()]
    assert epochs == [1, 2]


def test_resume_without_checkpoint_is_an_error(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint"):
        train(micro_args(tmp_path / "nothing", resume=True))


def test_failed_checkpoint_write_keeps_previous_file(tmp_path, monkeypatch):
    train(micro_args(tmp_path, epochs=1))
    before = (tmp_path / "last.pt").read_bytes()

    def broken_save(obj, f):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError):
        train(micro_args(tmp_path, epochs=2, resume=True))
    assert (tmp_path / "last.pt").read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.slow
def test_torchrun_two_process_data_parallel(tmp_path):
    torchrun = shutil.which("torchrun", path=str(__import__("pathlib").Path(sys.executable).parent))
    assert torchrun, "torchrun is installed with torch"
    out = tmp_path / "ddp"
    cmd = [torchrun, "--standalone", "--nproc_per_node=2", "-m", "lava_msf", "train", "--model", "msf_micro",
           "--timesteps", "2", "--epochs", "1", "--batch-size", "8", "--limit-train", "40", "--limit-test", "16",
           "--out", str(out), "--no-progress", "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    log = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert len(log) == 1 and log[0]["world_size"] == 2
    model, state = load_model(out / "last.pt")
    assert state["epoch"] == 1
    # all 40 samples were seen across the two ranks (20 each)
    assert log[0]["samples_per_second"] * log[0]["epoch_seconds"] == pytest.approx(40)


def test_checkpoint_weights_that_do_not_fit_are_named(tmp_path):
    from lava_msf import create_model
    from lava_msf.train import save_checkpoint

    path = tmp_path / "c.pt"
    model = create_model("msf_micro")
    save_checkpoint(path, model, epoch=1, metrics={})
    state = torch.load(path, weights_only=True)
    state["state_dict"]["head.fc.weight"] = torch.zeros(3, 3, 1, 1, 1)
    del state["state_dict"]["stem.conv.bias"]
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="missing.*stem.conv.bias"):
        load_model(path)
    state["state_dict"]["stem.conv.bias"] = torch.zeros(4)
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="head.fc.weight"):
        load_model(path)
