"""Checkpoints: weights, model config and (for resuming) optimizer state only.

Written with torch.save atomically; read with torch.load(weights_only=True), so
nothing is ever unpickled beyond tensors and plain containers.
"""

from pathlib import Path

import torch

from ..atomic import atomic_path
from ..errors import CheckpointError, LavaMsfError
from ..model import model_from_config

FORMAT = "lava-msf-checkpoint"
VERSION = 1


def save_checkpoint(path, model, epoch: int, metrics: dict, train_args: dict | None = None,
                    optimizer=None, scheduler=None, train_model=None) -> None:
    """`train_model`: the weights being trained when `model` is their moving
    average (EMA), kept for resuming."""
    state = {
        "format": FORMAT,
        "version": VERSION,
        "config": dict(model.config),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "epoch": int(epoch),
        "metrics": dict(metrics),
        "train_args": dict(train_args or {}),
    }
    if optimizer is not None:
        state["optimizer"] = optimizer.state_dict()
    if scheduler is not None:
        state["scheduler"] = scheduler.state_dict()
    if train_model is not None:
        state["train_state_dict"] = {k: v.detach().cpu() for k, v in train_model.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def read_checkpoint(path) -> dict:
    """Load and validate a checkpoint dict (tensors on CPU)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for corrupt files
        raise CheckpointError(f"{path}: not a readable checkpoint ({_summary(e)})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a lava-msf checkpoint (no format={FORMAT!r} entry)")
    if state.get("version", 0) > VERSION:
        raise CheckpointError(f"{path}: checkpoint version {state['version']} is newer than this lava-msf reads ({VERSION})")
    for key in ("config", "state_dict", "epoch"):
        if key not in state:
            raise CheckpointError(f"{path}: checkpoint has no {key!r} entry")
    return state


def load_model(path, neuron: str | None = None):
    """Rebuild the model of a checkpoint in eval mode. Returns (model, checkpoint dict)."""
    state = read_checkpoint(path)
    config = dict(state["config"])
    if neuron is not None:
        config["neuron"] = neuron
    try:
        model = model_from_config(config)
    except LavaMsfError as e:
        raise CheckpointError(f"{path}: bad model config: {e}") from None
    missing, unexpected = _mismatch(model.state_dict(), state["state_dict"])
    if missing or unexpected:
        raise CheckpointError(f"{path}: weights do not fit model {config.get('name')!r}: "
                              f"missing {missing[:5]}, unexpected {unexpected[:5]}")
    try:
        model.load_state_dict(state["state_dict"])
    except RuntimeError as e:
        raise CheckpointError(f"{path}: weights do not fit model {config.get('name')!r}: {_summary(e, last=True)}") from None
    return model.eval(), state


def _mismatch(expected: dict, got: dict):
    return sorted(set(expected) - set(got)), sorted(set(got) - set(expected))


def _summary(e: Exception, last: bool = False) -> str:
    """One line of an exception's message, for a one-line user error."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()] or [""]
    return f"{type(e).__name__}: {(lines[-1] if last else lines[0])[:300]}"
