"""Training, evaluation and checkpoints (torch)."""

from .checkpoint import load_model, read_checkpoint, save_checkpoint
from .trainer import TrainArgs, calibrate_batchnorm, evaluate, evaluate_checkpoint, train

__all__ = ["TrainArgs", "calibrate_batchnorm", "evaluate", "evaluate_checkpoint", "train", "load_model", "read_checkpoint", "save_checkpoint"]
