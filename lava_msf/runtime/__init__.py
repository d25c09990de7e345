"""Lava runtime (numpy and Lava only, never torch): the layer graph as Lava
processes on the CPU simulator, bit-exact with lava_msf.reference."""

from .backends import BACKENDS, Backend, get_backend
from .builder import BuildError, LavaGraph, build, latencies
from .runner import LavaRunError, LavaRunner

__all__ = ["BACKENDS", "Backend", "get_backend", "BuildError", "LavaGraph", "build", "latencies",
           "LavaRunError", "LavaRunner"]
