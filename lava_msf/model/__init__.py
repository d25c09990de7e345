"""Torch side: the Meta-SpikeFormer model on lava-dl SLAYER."""

from .layers import SDSA_VARIANTS
from .neuron import NEURON_MODES, SpikingNeuron, set_neuron_mode
from .registry import create_model, list_models, model_config, model_from_config

__all__ = ["SDSA_VARIANTS", "NEURON_MODES", "SpikingNeuron", "set_neuron_mode", "create_model",
           "list_models", "model_config", "model_from_config"]
