"""Firing rates of the torch model, per layer of its exported graph (torch)."""

import numpy as np
import torch

from ..errors import ConfigError
from ..reference import network_inputs


@torch.no_grad()
def torch_rates(model, net, x: np.ndarray, batch: int = 64) -> dict:
    """{graph layer name: firing rate} of the torch model on inputs x. `net` is
    the model's exported graph, whose meta maps every spiking layer to the
    torch module (an SN, or SDSA for its output spikes) that produces it."""
    modules = dict(model.named_modules())
    mapping = net.meta.get("spike_modules")
    if not mapping:
        raise ConfigError("the network has no spike_modules map: export it from the checkpoint again")
    sums = dict.fromkeys(mapping, 0.0)
    model.eval()
    for start in range(0, len(x), batch):
        chunk = torch.as_tensor(x[start:start + batch], dtype=torch.float32)
        model(chunk)
        for layer, path in mapping.items():
            sums[layer] += modules[path].last_rate * len(chunk)
    rates = {layer: total / len(x) for layer, total in sums.items()}
    frames = network_inputs(net, x)
    rates[net.layers[0].name] = float(np.count_nonzero(frames) / frames.size)
    return rates
