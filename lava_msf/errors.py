"""Typed errors. Every error a user can cause derives from LavaMsfError;
the CLI prints its message on one line and exits with status 2."""


class LavaMsfError(Exception):
    """Base class of all user-facing errors."""


class ConfigError(LavaMsfError, ValueError):
    """Unknown model, dataset, SDSA variant, neuron mode or bad option value."""


class ShapeError(LavaMsfError, ValueError):
    """A tensor does not have the shape a model or layer expects."""


class CheckpointError(LavaMsfError):
    """A checkpoint file is missing, unreadable, or not a lava-msf checkpoint."""


class OutputError(LavaMsfError):
    """An output cannot be written: `cannot write PATH: reason`."""


class GraphError(LavaMsfError, ValueError):
    """A layer graph is inconsistent (shapes, edges, parameters)."""


class NetFileError(LavaMsfError):
    """A .net file is unreadable, inconsistent or of an unsupported version."""


class InputFileError(LavaMsfError, ValueError):
    """An input array file (`run --inputs`) is unreadable or does not fit the network."""


class LavaMsfWarning(UserWarning):
    """Something was changed to fit (e.g. a NetX clamp); the CLI prints it on one line."""
