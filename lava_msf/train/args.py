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
    progress: bool = True
