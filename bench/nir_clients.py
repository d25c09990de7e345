"""Benchmark (issue 20's client target): a conv net trained briefly on dvs-synth in snnTorch, exported
by snnTorch's own NIR export, imported by lava-msf (quantized to Loihi fixed point) and run on
lava-cpu. Targets: accuracy within 0.5 points of snnTorch's own on the test split; first-layer
activity cosine similarity >= 0.999 (the spike trains of every neuron, step and sample).
Writes docs/results/nir_clients.json.

    .venv/bin/python bench/nir_clients.py [--train N] [--test N] [--epochs E] [--out PATH]
"""

import argparse
import json
import sys
import time

import numpy as np
import snntorch as snn
import torch
from snntorch.export_nir import export_to_nir
from snntorch.utils import reset

from lava_msf import fixedpoint as fx
from lava_msf.atomic import write_text
from lava_msf.data import load_dataset
from lava_msf.layers.synapse import quantize_weight
from lava_msf.nir import import_nir
from lava_msf.runtime import LavaRunner

IMG, T, BETA = 16, 8, 0.5


def model(classes: int) -> torch.nn.Sequential:
    """Conv2d(2->8, 5x5, stride 2) -> Leaky -> Flatten -> Linear -> Leaky, Lava's reset (to zero, no
    delay); per-neuron parameters so that NIR's types infer."""
    kw = dict(init_hidden=True, reset_mechanism="zero", reset_delay=False)
    leaky = lambda *s: snn.Leaky(beta=torch.full(s, BETA), threshold=torch.ones(s), **kw)  # noqa: E731
    conv, fc = torch.nn.Conv2d(2, 8, 5, stride=2, padding=2, bias=False), torch.nn.Linear(512, classes, bias=False)
    with torch.no_grad():  # torch's default init barely reaches threshold 1 on sparse events
        conv.weight.mul_(6)
        fc.weight.mul_(4)
    return torch.nn.Sequential(conv, leaky(8, 8, 8), torch.nn.Flatten(), fc, leaky(classes))


def run(net, x):
    """x (N, C, H, W, T) -> (first-layer spikes (N, 8, 8, 8, T), output spikes (N, classes, T))."""
    reset(net)
    first, out = [], []
    for t in range(x.shape[-1]):
        h = net[1](net[0](x[..., t]))
        first.append(h)
        out.append(net[4](net[3](net[2](h))))
    return torch.stack(first, -1), torch.stack(out, -1)


def train(net, data, epochs):
    opt = torch.optim.Adam(net.parameters(), lr=5e-3)
    x, y = torch.from_numpy(data.x).float(), torch.from_numpy(data.y)
    for _ in range(epochs):
        for idx in torch.randperm(len(x)).split(32):
            _, out = run(net, x[idx])
            loss = torch.nn.functional.cross_entropy(out.sum(-1), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()


def cosine(a, b):
    a, b = a.reshape(-1).astype(np.float64), b.reshape(-1).astype(np.float64)
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


def compare(net, test_set) -> dict:
    """snnTorch's own run of `net` on the test split against its NIR export imported by lava-msf on lava-cpu."""
    with torch.no_grad():
        first, out = (a.numpy() for a in run(net, torch.from_numpy(test_set.x).float()))
        graph = export_to_nir(net, torch.zeros(1, 2, IMG, IMG), ignore_dims=[0])
    lava_net, report = import_nir(graph, dt=1e-4, timesteps=T)
    conv_name = lava_net.layers[1].name
    t0 = time.time()
    with LavaRunner(lava_net, "lava-cpu", batch_samples=min(50, len(test_set.y)), probes=(conv_name,)) as runner:
        lava_out, probes = runner.run(test_set.x.astype(np.int64))
    lava_s = time.time() - t0
    lava_first, lava_out = probes[conv_name].reshape(first.shape), lava_out.reshape(out.shape)
    pred, lava_pred = out.sum(-1).argmax(1), lava_out.sum(-1).argmax(1)
    r = {
        "lava_cpu_s": round(lava_s, 1),
        "snntorch_accuracy": float((pred == test_set.y).mean()),
        "lava_cpu_accuracy": float((lava_pred == test_set.y).mean()),
        "prediction_agreement": float((pred == lava_pred).mean()),
        "first_layer_cosine": cosine(first, lava_first),
        "first_layer_spike_agreement": float((first == lava_first).mean()),
        "first_layer_rate": float(first.mean()),
        "output_cosine": cosine(out, lava_out), "output_spike_agreement": float((out == lava_out).mean()),
        "import_exact": report["exact"],
        "weight_rel_error": {name: row.get("weight_rel_error") for name, row in report["quantization"].items()},
    }
    r["points_from_snntorch"] = 100 * (r["lava_cpu_accuracy"] - r["snntorch_accuracy"])
    r["targets_met"] = abs(r["points_from_snntorch"]) <= 0.5 and r["first_layer_cosine"] >= 0.999
    return r


def snap_to_loihi_weights(net):
    """Post-training quantization in snnTorch: each synapse's weights onto the 8-bit grid (even
    mantissas, one exponent) that lava-msf's import would round them to; snnTorch then runs the
    weights Lava runs."""
    with torch.no_grad():
        for module in (net[0], net[3]):
            mant, exp = quantize_weight(module.weight.numpy())
            module.weight.copy_(torch.from_numpy(mant * 2.0**exp / fx.WEIGHT_SCALE))


def bench(n_train, n_test, epochs, seed=0) -> dict:
    train_set = load_dataset("dvs-synth", "train", IMG, timesteps=T, limit=n_train)
    test_set = load_dataset("dvs-synth", "test", IMG, timesteps=T, limit=n_test)
    torch.manual_seed(seed)
    net = model(train_set.num_classes)
    t0 = time.time()
    train(net, train_set, epochs)
    r = {"dataset": "dvs-synth", "img_size": IMG, "timesteps": T, "train_samples": len(train_set.y),
         "test_samples": len(test_set.y), "epochs": epochs, "beta": BETA, "dt": 1e-4,
         "train_s": round(time.time() - t0, 1), "float_weights": compare(net, test_set)}
    snap_to_loihi_weights(net)
    r["loihi_grid_weights"] = compare(net, test_set)
    return r


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=int, default=1000)
    ap.add_argument("--test", type=int, default=300)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--out", default="docs/results/nir_clients.json")
    args = ap.parse_args(argv)
    r = bench(args.train, args.test, args.epochs)
    write_text(args.out, json.dumps(r, indent=2) + "\n")
    print(json.dumps(r, indent=2))
    return 0 if r["loihi_grid_weights"]["targets_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
