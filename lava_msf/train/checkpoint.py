"""Checkpoints: weights, model config and (for resuming) optimizer state only.

Written with torch.save, atomically. Every torch file lava-msf reads goes
through load_tensor_file: only a plain torch.save zip, unpickled with
torch.load(weights_only=True), so nothing beyond tensors and plain containers
is ever built and no code from the file runs.
"""

import io
import pickle
import re
import zipfile
from pathlib import Path

import torch

from ..atomic import write_bytes
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
    buffer = io.BytesIO()  # torch.save's own file I/O fails with a RuntimeError on a full disk
    torch.save(state, buffer)
    write_bytes(path, buffer.getbuffer())


# The records of a torch.save zip, below its one top-level folder. A TorchScript
# archive also has code/ and constants.pkl, and torch.load hands it to
# torch.jit.load, which runs its code, even with weights_only=True.
_TENSOR_ZIP_RECORDS = re.compile(r"data\.pkl|byteorder|version|\.data/version|\.data/serialization_id|data/\d+")


def load_tensor_file(path, inert_pickle=None):
    """The one reader of torch files (checkpoints): refuses anything but a
    plain torch.save zip of tensors and containers before torch sees it, and
    unpickles that with the weights-only loader. A file that loader refuses is
    read with `inert_pickle` instead when given (a pickle module whose
    Unpickler builds inert stand-ins: official.py's, for argparse.Namespace)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    with open(path, "rb") as f:  # one open file: checked and loaded are the same bytes
        _check_tensor_zip(f, path)
        try:
            try:
                return torch.load(f, map_location="cpu", weights_only=True)
            except pickle.UnpicklingError:
                if inert_pickle is None:
                    raise
                f.seek(0)
                return torch.load(f, map_location="cpu", weights_only=False, pickle_module=inert_pickle)
        except Exception as e:  # torch raises many types for corrupt files
            raise CheckpointError(f"{path}: not a readable checkpoint ({_summary(e)})") from None


def _check_tensor_zip(f, path) -> None:
    if f.read(4) != b"PK\x03\x04":  # what torch.load takes for a zip; else it reads legacy formats
        raise CheckpointError(f"{path}: not a readable checkpoint (not a torch zip; legacy torch formats "
                              f"are not read)")
    try:
        names = zipfile.ZipFile(f).namelist()
    except Exception as e:  # zipfile raises several types for crafted directories
        raise CheckpointError(f"{path}: not a readable checkpoint ({_summary(e)})") from None
    folder = names[0].partition("/")[0] if names else ""
    records = [name.partition("/")[2] if name.partition("/")[0] == folder else name for name in names]
    if any(r == "constants.pkl" or r.startswith("code/") for r in records):
        raise CheckpointError(f"{path}: a TorchScript archive, not a tensor checkpoint (loading it would run "
                              f"its code); refused")
    odd = next((r for r in records if not _TENSOR_ZIP_RECORDS.fullmatch(r)), None)
    if odd is not None:
        raise CheckpointError(f"{path}: not a plain tensor checkpoint (member {odd[:80]!r}); refused")
    if "data.pkl" not in records:
        raise CheckpointError(f"{path}: not a readable checkpoint (no data.pkl)")
    f.seek(0)


def read_checkpoint(path) -> dict:
    """Load and validate a checkpoint dict (tensors on CPU)."""
    path = Path(path)
    state = load_tensor_file(path)
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
