"""Training, evaluation and checkpoints (torch, loaded on first use: the CLI's
other commands start without it)."""

import importlib

_LAZY = {"TrainArgs": "args", "calibrate_batchnorm": "trainer", "evaluate": "trainer",
         "evaluate_checkpoint": "trainer", "train": "trainer", "load_model": "checkpoint",
         "read_checkpoint": "checkpoint", "save_checkpoint": "checkpoint"}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_LAZY)
