"""Check a deployable network: the numpy reference executor against the torch
backend (bit-exact agreement per sample), and its accuracy on a dataset."""

import numpy as np
import torch
from tqdm import tqdm

from ..graph import Network
from ..reference import Executor, NumpyBackend, network_inputs
from .exporter import evaluate_network
from .torch_backend import TorchBackend


def verify_network(net: Network, data, reference_samples: int, progress: bool = True) -> dict:
    """Agreement of the numpy reference and the torch backend on the first
    `reference_samples` samples (whole output over T, exactly), and the
    network's task metric (accuracy, mAP or mIoU) on all of `data`."""
    n = min(reference_samples, len(data))
    frames = network_inputs(net, data.x[:n])
    reference, fast = Executor(net, NumpyBackend), Executor(net, TorchBackend)
    equal = 0
    for i in tqdm(range(n), desc="reference executor", disable=not progress, leave=False, unit="sample"):
        a = reference.run(frames[i:i + 1])
        b = fast.run(torch.from_numpy(frames[i:i + 1])).numpy()
        equal += int(np.array_equal(a, b))
    return {"reference_samples": n, "reference_agreement": equal / max(1, n),
            **{f"quantized_{k}": v for k, v in evaluate_network(net, data).items()}}
