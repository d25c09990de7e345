"""The paper's recipe options: each does what it says on one tiny step (formulas
checked in float64 with margins far above rounding), end to end through the
trainer, and resumes exactly."""

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lava_msf import create_model
from lava_msf.errors import ConfigError
from lava_msf.train import TrainArgs, read_checkpoint, save_checkpoint, train
from lava_msf.train import trainer as trainer_mod
from lava_msf.train.recipe import BatchRecipe, distill_loss, make_ema


def args_with(**kw):
    return replace(TrainArgs(label_smoothing=0.0), **kw)


def test_label_smoothing_is_the_formula():
    logits = torch.tensor([[4.0, -2.0, 0.5], [0.0, 3.0, -1.0]])
    y = torch.tensor([0, 2])
    eps = 0.3
    loss = BatchRecipe(args_with(label_smoothing=eps), 3, "cpu").loss(logits, y, None)
    logp = F.log_softmax(logits.double(), 1)
    expected = ((1 - eps) * -logp[torch.arange(2), y] + eps * -logp.mean(1)).mean()
    assert abs(float(loss) - float(expected)) < 1e-5
    plain = BatchRecipe(args_with(), 3, "cpu").loss(logits, y, None)
    assert float(loss) - float(plain) < -0.1 or float(loss) - float(plain) > 0.1  # it changes the loss


def test_ema_is_the_moving_average_of_the_weights():
    model = create_model("msf_micro", timesteps=1)
    decay = 0.75
    ema = make_ema(model, decay)
    before = {k: v.detach().clone().double() for k, v in model.state_dict().items() if v.is_floating_point()}
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    model.train()
    model(torch.rand(4, 1, 32, 32)).square().sum().backward()  # train mode: BN statistics move too
    opt.step()
    ema.update_parameters(model)
    after = {k: v.detach().double() for k, v in model.state_dict().items() if k in before}
    averaged = ema.module.state_dict()
    moved = 0
    for key, value in after.items():
        expected = decay * before[key] + (1 - decay) * value
        assert torch.allclose(averaged[key].double(), expected, atol=1e-6), key
        moved += int((value - before[key]).abs().max() > 1e-3)
    assert moved > 10  # weights and BN statistics moved, and the average differs from them
    assert max(float((averaged[k].double() - after[k]).abs().max()) for k in after) > 1e-3
    assert make_ema(model, 0.0) is None


def test_mixup_mixes_pairs_with_the_targets_weights():
    torch.manual_seed(1)
    x, y = torch.rand(6, 3, 16, 16), torch.tensor([0, 1, 2, 3, 4, 5])
    mixed, target = BatchRecipe(args_with(mixup=0.8), 10, "cpu").augment(x, y)
    assert torch.allclose(target.sum(1), torch.ones(6), atol=1e-6)
    lam = target[torch.arange(6), y]
    assert 0.01 < float(lam[0]) < 0.99  # a real mix
    for i in range(6):  # torchvision pairs each sample with the previous one
        j = (i - 1) % 6
        assert abs(float(target[i, y[j]]) - (1 - float(lam[i]))) < 1e-6
        assert torch.allclose(mixed[i], lam[i] * x[i] + (1 - lam[i]) * x[j], atol=1e-5)


def test_cutmix_pastes_the_same_box_into_every_frame():
    torch.manual_seed(3)
    x = torch.stack([torch.full((2, 16, 16, 3), float(i)) for i in range(4)])  # frames (N, C, H, W, T)
    y = torch.arange(4)
    mixed, target = BatchRecipe(args_with(cutmix=1.0), 4, "cpu").augment(x, y)
    assert mixed.shape == x.shape
    for i in range(4):
        from_prev = mixed[i] == float((i - 1) % 4)
        assert (from_prev | (mixed[i] == float(i))).all()
        assert (from_prev == from_prev[..., :1]).all()  # the box is the same at every step
        assert abs(float(from_prev.float().mean()) - float(target[i, (i - 1) % 4])) < 1e-6


def test_randaugment_changes_images_and_refuses_frames():
    torch.manual_seed(0)
    x = torch.rand(8, 3, 32, 32)
    out, target = BatchRecipe(args_with(randaugment=9), 10, "cpu").augment(x, torch.arange(8))
    assert out.shape == x.shape and 0 <= float(out.min()) and float(out.max()) <= 1
    assert torch.equal(target, torch.arange(8))
    assert sum(float((out[i] - x[i]).abs().mean()) > 0.01 for i in range(8)) >= 6
    with pytest.raises(ConfigError, match="applies to images"):
        BatchRecipe(args_with(randaugment=9), 10, "cpu").augment(torch.rand(2, 2, 8, 8, 2), torch.arange(2))


def test_distillation_is_the_weighted_formula(tmp_path):
    teacher = create_model("msf_micro", timesteps=1, neuron="float")
    save_checkpoint(tmp_path / "teacher.pt", teacher, epoch=1, metrics={})
    teacher.eval()
    x, y = torch.rand(4, 1, 32, 32), torch.tensor([1, 2, 3, 4])
    with torch.no_grad():
        t_logits = teacher(x).double()
    logits = torch.randn(4, 10)
    ce = F.cross_entropy(logits.double(), y)
    tau, alpha = 2.0, 0.25
    soft = BatchRecipe(args_with(teacher=str(tmp_path / "teacher.pt"), distill_alpha=alpha, distill_tau=tau),
                       10, "cpu").loss(logits, y, x)
    p_t = F.softmax(t_logits / tau, 1)
    kl = (p_t * (p_t.log() - F.log_softmax(logits.double() / tau, 1))).sum(1).mean() * tau ** 2
    assert abs(float(soft) - float((1 - alpha) * ce + alpha * kl)) < 1e-4
    hard = BatchRecipe(args_with(teacher=str(tmp_path / "teacher.pt"), distill="hard", distill_alpha=alpha),
                       10, "cpu").loss(logits, y, x)
    expected = (1 - alpha) * ce + alpha * F.cross_entropy(logits.double(), t_logits.argmax(1))
    assert abs(float(hard) - float(expected)) < 1e-4
    assert abs(float(distill_loss(logits, logits, "soft", 3.0))) < 1e-5  # a student equal to its teacher


@pytest.mark.parametrize("option, value, message", [
    ("distill", "medium", "unknown --distill"), ("ema", 1.0, "decay below 1"), ("mixup", -1.0, "--mixup"),
    ("randaugment", 31, "magnitude"), ("label_smoothing", 1.0, "label-smoothing"),
])
def test_bad_recipe_options(tmp_path, option, value, message):
    with pytest.raises(ConfigError, match=message):
        train(TrainArgs(model="msf_micro", out=str(tmp_path), epochs=1, **{option: value}))


def recipe_args(out, **kw):
    base = dict(model="msf_micro", out=str(out), epochs=2, batch_size=4, timesteps=1, limit_train=8,
                limit_test=4, progress=False, lr=5e-3, ema=0.5, mixup=0.8, cutmix=1.0, randaugment=9)
    base.update(kw)
    return TrainArgs(**base)


def test_whole_recipe_trains_and_resumes_exactly(tmp_path, monkeypatch):
    teacher = create_model("msf_micro", timesteps=1)
    save_checkpoint(tmp_path / "teacher.pt", teacher, epoch=1, metrics={})
    straight = tmp_path / "straight"
    train(recipe_args(straight, teacher=str(tmp_path / "teacher.pt")))
    last = read_checkpoint(straight / "last.pt")
    # the checkpoint's weights are the average (what was tested); the trained ones are kept for resuming
    diff = max(float((last["state_dict"][k] - last["train_state_dict"][k]).abs().max())
               for k in last["state_dict"] if last["state_dict"][k].is_floating_point())
    assert diff > 1e-4 and "train_state_dict" not in read_checkpoint(straight / "best.pt")

    interrupted = tmp_path / "interrupted"
    real_save = trainer_mod.save_checkpoint

    def save_then_die(path, *a, **kw):
        real_save(path, *a, **kw)
        if path.name == "last.pt":
            raise KeyboardInterrupt

    monkeypatch.setattr(trainer_mod, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train(recipe_args(interrupted, teacher=str(tmp_path / "teacher.pt")))
    monkeypatch.setattr(trainer_mod, "save_checkpoint", real_save)
    train(recipe_args(interrupted, teacher=str(tmp_path / "teacher.pt"), resume=True))
    again = read_checkpoint(interrupted / "last.pt")
    for part in ("state_dict", "train_state_dict"):
        for key, value in last[part].items():
            assert torch.equal(value, again[part][key]), (part, key)


def test_t1_pretraining_then_t4_fine_tuning(tmp_path):
    pre = tmp_path / "t1"
    train(recipe_args(pre, epochs=1, ema=0.0, mixup=0.0, cutmix=0.0, randaugment=None))
    weights = read_checkpoint(pre / "last.pt")["state_dict"]
    args = recipe_args(tmp_path / "t4", epochs=1, timesteps=4, init=str(pre / "last.pt"))
    model = trainer_mod._init_model(args)
    assert model.timesteps == 4 and model.config["timesteps"] == 4
    for key, value in model.state_dict().items():
        assert torch.equal(value, weights[key]), key
    metrics = train(args)
    assert read_checkpoint(tmp_path / "t4" / "last.pt")["config"]["timesteps"] == 4
    assert math.isfinite(metrics["train_loss"]) and np.isfinite(metrics["test_loss"])
