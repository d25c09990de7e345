"""The paper's training recipe as options (docs/training.md maps them to the
paper): RandAugment, mixup / CutMix (torchvision), an exponential moving
average of the weights (torch's AveragedModel) and knowledge distillation from
a teacher checkpoint. Every option is off by default.

torchvision's transforms draw from torch's global generator: the trainer seeds
it per (seed, epoch, rank), so that a resumed run continues exactly."""

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from .checkpoint import load_model

DISTILL_MODES = ("soft", "hard")
RANDAUGMENT_OPS = 2  # the paper's rand-m9-n2: 2 ops of magnitude 9


def check_recipe(args) -> None:
    for name in ("mixup", "cutmix", "ema"):
        if getattr(args, name) < 0:
            raise ConfigError(f"--{name} must be >= 0, got {getattr(args, name)}")
    if not args.ema < 1:
        raise ConfigError(f"--ema is a decay below 1 (e.g. 0.9999), got {args.ema}")
    if args.randaugment is not None and not 0 <= args.randaugment <= 30:
        raise ConfigError(f"--randaugment is a magnitude 0..30 (the paper: 9), got {args.randaugment}")
    if not 0 <= args.label_smoothing < 1:
        raise ConfigError(f"--label-smoothing must be in [0, 1), got {args.label_smoothing}")
    if args.distill not in DISTILL_MODES:
        raise ConfigError(f"unknown --distill {args.distill!r}; choose one of {', '.join(DISTILL_MODES)}")
    if not 0 <= args.distill_alpha <= 1 or not args.distill_tau > 0:
        raise ConfigError(f"--distill-alpha must be in [0, 1] and --distill-tau positive, "
                          f"got {args.distill_alpha} and {args.distill_tau}")


def as_images(x: torch.Tensor):
    """(N, C, H, W[, T]) -> (N, C', H, W) and the function that undoes it:
    event frames are transformed alike at every step."""
    if x.dim() == 4:
        return x, lambda y: y
    n, c, h, w, t = x.shape
    flat = x.permute(0, 1, 4, 2, 3).reshape(n, c * t, h, w)
    return flat, lambda y: y.reshape(n, c, t, h, w).permute(0, 1, 3, 4, 2).contiguous()


class BatchRecipe:
    """Per-batch augmentation and loss of a training run."""

    def __init__(self, args, num_classes: int, device):
        self.args = args
        self.randaugment = self.mix = None
        if args.randaugment is not None or args.mixup > 0 or args.cutmix > 0:
            from torchvision.transforms import v2  # only when asked for: its import takes a while

            if args.randaugment is not None:
                self.randaugment = v2.RandAugment(RANDAUGMENT_OPS, args.randaugment)
            mixes = ([v2.MixUp(alpha=args.mixup, num_classes=num_classes)] if args.mixup > 0 else []) + \
                ([v2.CutMix(alpha=args.cutmix, num_classes=num_classes)] if args.cutmix > 0 else [])
            # both: one of the two per batch, with equal odds (timm's switch_prob 0.5)
            self.mix = v2.RandomChoice(mixes) if len(mixes) == 2 else (mixes[0] if mixes else None)
        self.teacher = None
        if args.teacher is not None:
            self.teacher, _ = load_model(args.teacher)
            self.teacher.to(device).requires_grad_(False)

    def augment(self, x: torch.Tensor, y: torch.Tensor):
        """Inputs and targets after RandAugment and mixing; targets are class
        indices, or class probabilities once mixed."""
        if self.randaugment is not None:
            if x.dim() != 4:
                raise ConfigError("--randaugment applies to images, not to event frames")
            # RandAugment works on 8-bit images, one op draw per sample
            u8 = (x * 255).round().clamp(0, 255).to(torch.uint8)
            x = torch.stack([self.randaugment(img) for img in u8]).float() / 255
        if self.mix is not None:
            flat, undo = as_images(x)
            flat, y = self.mix(flat, y)
            x = undo(flat)
        return x, y

    def loss(self, logits: torch.Tensor, target: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Cross-entropy with label smoothing; with a teacher, mixed with the
        distillation loss: (1 - alpha) CE + alpha KD."""
        loss = F.cross_entropy(logits, target, label_smoothing=self.args.label_smoothing)
        if self.teacher is None:
            return loss
        with torch.no_grad():
            teacher_logits = self.teacher(x)
        return (1 - self.args.distill_alpha) * loss + self.args.distill_alpha * distill_loss(
            logits, teacher_logits, self.args.distill, self.args.distill_tau)


def distill_loss(logits, teacher_logits, mode: str, tau: float) -> torch.Tensor:
    """hard: cross-entropy with the teacher's class (DeiT's hard distillation);
    soft: tau^2 KL(teacher || student) at temperature tau (Hinton et al.)."""
    if mode == "hard":
        return F.cross_entropy(logits, teacher_logits.argmax(1))
    return F.kl_div(F.log_softmax(logits / tau, 1), F.log_softmax(teacher_logits / tau, 1),
                    reduction="batchmean", log_target=True) * tau * tau


def make_ema(model, decay: float, state_dict=None):
    """An exponential moving average of the weights and BatchNorm statistics,
    ema <- decay * ema + (1 - decay) * weights after every step, starting
    from the model's weights (or `state_dict`, on resume). None when decay is 0."""
    if decay == 0:
        return None
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
    ema.update_parameters(model)  # the first update copies: the average starts at the weights
    if state_dict is not None:
        ema.module.load_state_dict(state_dict)
    return ema
