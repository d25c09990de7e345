"""Running lava-msf's NIR exports in Norse (tests/test_nir_clients.py, bench/nir_clients.py).

Norse 1.1.0's `from_nir` cannot run a residual network: it builds nirtorch's old graph executor,
which runs the nodes in depth-first order (a node that sums two paths may run before one of them,
reading its previous step), and its Conv2d sizes `in_channels` as `C_in / groups` (a depthwise
conv fails). So the graph runs in nirtorch 2.6's `nir_to_torch` (an fx graph in topological order,
the edges into a node summed), with Norse's own modules for the neurons (its NIR import of LIF and
CubaLIF: `LIFBoxCell`, `LIBoxCell`) and torch's Conv2d / Linear built from the NIR parameters.
`run_with_spikes` runs a torch Meta-SpikeFormer and its export side by side, with every SN's spikes."""

from functools import partial

import nir
import nirtorch
import numpy as np
import torch
from norse.torch.utils.import_nir import _import_norse_module


def _pairs(v):
    return tuple(int(x) for x in np.broadcast_to(v, 2))


def _conv2d(node):
    w = torch.from_numpy(np.asarray(node.weight)).float()
    conv = torch.nn.Conv2d(w.shape[1] * int(node.groups), w.shape[0], tuple(w.shape[2:]), stride=_pairs(node.stride),
                           padding=_pairs(node.padding), dilation=_pairs(node.dilation), groups=int(node.groups))
    conv.weight.data, conv.bias.data = w, torch.from_numpy(np.asarray(node.bias)).float()
    return conv


def _affine(node):
    w = torch.from_numpy(np.asarray(node.weight)).float()
    fc = torch.nn.Linear(w.shape[1], w.shape[0])
    fc.weight.data, fc.bias.data = w, torch.from_numpy(np.asarray(node.bias)).float()
    return fc


def norse_module(graph, dt: float):
    """`graph` (lava-msf's export for Norse: `export_nir(net, dt, client='norse')`) as a torch
    module stepping Norse's neurons; Flatten keeps the batch axis."""
    neuron = partial(_import_norse_module, dt=dt)
    node_map = {nir.LIF: neuron, nir.CubaLIF: neuron, nir.Conv2d: _conv2d, nir.Affine: _affine,
                nir.Flatten: lambda node: torch.nn.Flatten(1)}
    return nirtorch.nir_to_torch(graph, node_map)


def run_norse(module, x: np.ndarray) -> np.ndarray:
    """x (N, ..., T) frames -> the graph's output (N, ..., T), float64."""
    state, out = None, []
    with torch.no_grad():
        for t in range(x.shape[-1]):
            y, state = module(torch.from_numpy(np.ascontiguousarray(x[..., t])).float(), state)
            out.append(y.double())
    return torch.stack(out, -1).numpy()


def snntorch_module(graph):
    """`graph` (an export for Norse: LIFs at r = 1, v_leak = 0, which snnTorch's LIF import requires, at
    snnTorch's hard-coded dt = 1e-4) with snnTorch's own neurons (its NIR import of a LIF: `Leaky`,
    its threshold over dt / tau for r = 1), in the same fx executor; `run_snntorch` steps it."""
    from snntorch.import_nir import _nir_to_snntorch_module

    node_map = {nir.LIF: partial(_nir_to_snntorch_module, init_hidden=True), nir.Conv2d: _conv2d,
                nir.Affine: _affine, nir.Flatten: lambda node: torch.nn.Flatten(1)}
    return nirtorch.nir_to_torch(graph, node_map)


def run_snntorch(module, x: np.ndarray) -> np.ndarray:
    """x (N, ..., T) frames -> the graph's output (N, ..., T), float64 (snnTorch's neurons hold their
    state: reset before each batch)."""
    from snntorch.utils import reset

    reset(module)
    with torch.no_grad():
        out = [module(torch.from_numpy(np.ascontiguousarray(x[..., t])).float())[0].double()
               for t in range(x.shape[-1])]
    return torch.stack(out, -1).numpy()


def neuron_nodes(net) -> dict:
    """{NIR node of each SN: the torch module whose spikes it computes} (export_nir's names; SDSA: its
    attention neuron)."""
    pairs = {}
    for layer in net.layers:
        module = net.meta["spike_modules"].get(layer.name)
        if module is not None:
            node = {"sdsa": f"{layer.name}.attention", "neuron": layer.name}.get(layer.type, f"{layer.name}.neuron")
            pairs[node] = f"{module}.attn_sn" if layer.type == "sdsa" else module
    return pairs


def run_with_spikes(model, module, x, frames, pairs, batch=60, run=run_norse):
    """The torch model (its current neuron mode) and the client's module (`run`: run_norse, run_snntorch)
    on the same samples, with the spikes of each SN on both sides: (torch readout (N, classes, T), the
    client's, {node: (torch, client) spikes})."""
    torch_modules, norse_modules = dict(model.named_modules()), dict(module.named_modules())
    seen, hooks = {}, []
    for node, name in pairs.items():
        hooks.append(torch_modules[name].register_forward_hook(
            lambda m, i, o, node=node: seen.setdefault(("torch", node), []).append(o.numpy())))
        hooks.append(norse_modules[node.replace(".", "_")].register_forward_hook(  # fx's names of the nodes
            lambda m, i, o, node=node: seen.setdefault(("norse", node), []).append(
                (o[0] if isinstance(o, tuple) else o).numpy())))
    ours, theirs = [], []
    try:
        for i in range(0, len(x), batch):
            with torch.no_grad():
                ours.append(model.forward_steps(x[i:i + batch]).numpy())
            theirs.append(run(module, frames[i:i + batch]))
    finally:
        for h in hooks:
            h.remove()
    spikes = {}
    for node in pairs:
        a = np.concatenate(seen[("torch", node)])
        steps = seen[("norse", node)]  # per step, batch after batch
        b = np.concatenate([np.stack(steps[j:j + a.shape[-1]], -1) for j in range(0, len(steps), a.shape[-1])])
        spikes[node] = (a, b.reshape(a.shape))
    ours = np.concatenate(ours)
    return ours, np.concatenate(theirs).reshape(ours.shape), spikes
