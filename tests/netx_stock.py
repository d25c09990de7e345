"""Stock lava-dl NetX as the peer of equivalence tests: runs a NetX HDF5 file in
`lava.lib.dl.netx.hdf5.Network` on Lava's CPU simulator (Loihi2SimCfg,
fixed_pt) and records every block's output and its synapse's current, in
lava-msf's (C, H, W, T) layout. Test code only: lava-msf itself never needs
lava-dl's NetX."""

from dataclasses import dataclass, field

import numpy as np

NETX_TESTS = "tests/lava/lib/dl/netx"  # inside site-packages: the files lava-dl ships


def netx_file(relative: str) -> str:
    """Path of a file lava-dl ships with its NetX tests (e.g. 'gts/pilotnet_lif/network.net')."""
    import os
    import site

    for root in site.getsitepackages():
        path = os.path.join(root, NETX_TESTS, relative)
        if os.path.exists(path):
            return path
    raise FileNotFoundError(f"lava-dl's test file {relative} is not installed")


def to_chw(x_lava: np.ndarray) -> np.ndarray:
    """Lava's (W, H, C, T) or (N, T) -> (C, H, W, T)."""
    if x_lava.ndim == 2:
        return x_lava.reshape(x_lava.shape[0], 1, 1, x_lava.shape[1])
    return x_lava.transpose(2, 1, 0, 3)


def to_lava(x_chw: np.ndarray, shape: tuple) -> np.ndarray:
    """(C, H, W, T) -> the Lava port's shape + (T,)."""
    if len(shape) == 1:
        return x_chw.reshape(-1, x_chw.shape[-1])
    return x_chw.transpose(2, 1, 0, 3).reshape(*shape, x_chw.shape[-1])


@dataclass
class StockRun:
    outputs: list = field(default_factory=list)  # per block: (C, H, W, T)
    currents: list = field(default_factory=list)  # per block: its synapse's a_out (C, H, W, T), None for Input
    file_layers: list = field(default_factory=list)  # per block: index of its group in the file
    blocks: list = field(default_factory=list)  # per block: NetX's block class name
    neuron_vars: list = field(default_factory=list)  # per block: {var: (C, H, W, T)} of run_stock's neuron_vars


def _file_layers(path, num_layers):
    """Indices of the file's groups NetX turns into blocks (as hdf5.Network._create walks them)."""
    import h5py

    with h5py.File(path, "r") as f:
        n = len(f["layer"])
        kept = []
        for i in range(n if num_layers is None else min(n, num_layers)):
            g = f[f"layer/{i}"]
            kind = g["type"][()]
            kind = (kind[0] if isinstance(kind, np.ndarray) else kind).decode()
            if kind in ("conv", "dense", "dense_rec", "dense_comp") or (kind == "input" and "neuron" in g):
                kept.append(i)
        return kept


def run_stock(path, frames=None, steps=None, *, bias=None, input_shape=None, input_message_bits=0,
              num_layers=None, spike_exp=6, reset_interval=None, neuron_vars=()) -> StockRun:
    """Run `path` in stock NetX for `steps` steps (default: the frames' T).

    frames: (C, H, W, T) integers sent into the network's input port (the input
    neuron's current, or the first synapse's spikes/graded values);
    bias: (C, H, W) integers set as the input neuron's bias_mant (lava-dl's
    tinynet test feeds images that way); input_shape: (C, H, W) for files
    without an input layer; reset_interval: NetX's, each block reset at its own
    offset (block k at step k + 1), as lava-msf resets a layer when its input arrives;
    neuron_vars: names of neuron Vars recorded after every step (Lava's Monitor)
    in the blocks whose neuron has them (an RF's 'real', 'imag')."""
    from lava.lib.dl import netx
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.monitor.process import Monitor

    steps = frames.shape[-1] if steps is None else int(steps)
    kwargs = {} if input_shape is None else {"input_shape": tuple(reversed(input_shape))}
    net = netx.hdf5.Network(net_config=str(path), num_layers=num_layers, input_message_bits=input_message_bits,
                            spike_exp=spike_exp, reset_interval=reset_interval, **kwargs)
    run = StockRun(file_layers=_file_layers(path, num_layers), blocks=[type(b).__name__ for b in net.layers])
    assert len(run.file_layers) == len(net.layers), (run.file_layers, run.blocks)
    if frames is not None:
        # NetX's Input block leaves its own port unconnected: feed its neuron (as lava-dl's tests do)
        port = net.in_layer.neuron.a_in if type(net.in_layer).__name__ == "Input" else net.inp
        source = Source(data=to_lava(np.asarray(frames), port.shape).astype(np.int32))
        source.s_out.connect(port)
    if bias is not None:
        net.in_layer.neuron.bias_mant.init = to_lava(np.asarray(bias)[..., None], net.in_layer.shape)[..., 0]
    sinks = []
    for block in net.layers:
        out = Sink(shape=block.out.shape, buffer=steps)
        block.out.connect(out.a_in)
        synapse = getattr(block, "synapse", None)
        cur = None
        if synapse is not None:
            cur = Sink(shape=synapse.a_out.shape, buffer=steps)
            synapse.a_out.connect(cur.a_in)
        monitors = {}
        for var in neuron_vars:
            if hasattr(block.neuron, var):
                monitors[var] = Monitor()
                monitors[var].probe(getattr(block.neuron, var), steps)
        sinks.append((out, cur, monitors))
    try:
        net.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt", select_sub_proc_model=True))
        for block, (out, cur, monitors) in zip(net.layers, sinks):
            run.outputs.append(to_chw(out.data.get()))
            run.currents.append(None if cur is None else to_chw(cur.data.get()))
            run.neuron_vars.append({var: to_chw(np.moveaxis(m.get_data()[block.neuron.name][var], 0, -1))
                                    for var, m in monitors.items()})
    finally:
        net.stop()
    return run
