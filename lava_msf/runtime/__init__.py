"""Lava runtime (numpy and Lava only, never torch): the layer graph as Lava
processes on the CPU simulator, bit-exact with lava_msf.reference."""

import multiprocessing as _mp
import sys as _sys

from ..errors import ConfigError as _ConfigError

if "lava.magma.runtime.message_infrastructure.multiprocessing" not in _sys.modules:
    # Lava calls multiprocessing.set_start_method("fork") when imported, which fails
    # once anything (torch does) has fixed the start method, even to "fork"
    _method = _mp.get_start_method(allow_none=True)
    if _method not in (None, "fork"):
        raise _ConfigError(f"Lava's CPU simulator forks its processes; this program chose the "
                           f"multiprocessing start method {_method!r}")
    _mp.set_start_method(None, force=True)
    import lava.magma.runtime.message_infrastructure.multiprocessing  # noqa: F401,E402

from .backends import BACKENDS, Backend, BackendUnavailable, get_backend
from .builder import BuildError, LavaGraph, build
from .runner import LavaRunError, LavaRunner

__all__ = ["BACKENDS", "Backend", "BackendUnavailable", "get_backend", "BuildError", "LavaGraph", "build", "LavaRunError",
           "LavaRunner"]
