"""Training options (no torch: the CLI builds its parser from the defaults)."""

from dataclasses import dataclass


@dataclass
class TrainArgs:
    model: str = "msf_tiny"
    dataset: str = "digits"
    out: str = "runs/msf_tiny-digits"
    timesteps: int = 4
    epochs: int = 12
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-2
    warmup_epochs: int = 1
    label_smoothing: float = 0.1
    max_shift: int = 2  # random translation in pixels (train only)
    seed: int = 0
    data_dir: str | None = None  # for datasets read from disk (nmnist, dvsgesture)
    sdsa: str | None = None
    neuron: str | None = None
    img_size: int | None = None
    limit_train: int | None = None  # use only the first N training samples
    limit_test: int | None = None
    resume: bool = False
    init: str | None = None  # fine-tune from this checkpoint's model and weights
    device: str | None = None  # default: cuda if available else cpu
    # The paper's recipe (docs/training.md); off by default.
    mixup: float = 0.0  # alpha of mixup's Beta(alpha, alpha); 0: off
    cutmix: float = 0.0  # alpha of CutMix; with mixup too, one of the two per batch
    randaugment: int | None = None  # magnitude of RandAugment, 2 ops per image (the paper: 9); images only
    ema: float = 0.0  # decay of an exponential moving average of the weights (e.g. 0.9999); 0: off
    teacher: str | None = None  # knowledge distillation from this lava-msf checkpoint
    distill: str = "soft"  # soft (KL at temperature distill_tau) or hard (the teacher's class as label)
    distill_alpha: float = 0.5  # loss = (1 - alpha) CE + alpha KD
    distill_tau: float = 1.0
    progress: bool = True
