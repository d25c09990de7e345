"""Training, evaluation and checkpoints (torch)."""

from .checkpoint import load_model, read_checkpoint, save_checkpoint
from .trainer import TrainArgs, evaluate, train

__all__ = ["TrainArgs", "evaluate", "train", "load_model", "read_checkpoint", "save_checkpoint"]
