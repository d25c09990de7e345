"""Torch -> deployable integer graph (and HDF5)."""

from .exporter import evaluate_network, export_for_data, export_network, quantize_weight
from .torch_backend import TorchBackend

__all__ = ["evaluate_network", "export_for_data", "export_network", "quantize_weight", "TorchBackend"]
