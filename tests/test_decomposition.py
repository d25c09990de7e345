"""The chip-mappable decomposition (lava-cpu-decomposed): SDSA and the merge
as graphs of Lava's stock processes, bit-exact with the direct process models;
the layout's counts against its matrices; backend selection."""

import numpy as np
import pytest

from lava_msf import fixedpoint as fx
from lava_msf.chip.mapping import OUTPUT, merge_decomposition, sdsa_decomposition
from lava_msf.cli import main
from lava_msf.export import export_network
from lava_msf.graph import Layer, Network
from lava_msf.reference import Executor
from lava_msf.runtime import BackendUnavailable, LavaRunner, get_backend

from conftest import warmed_model
from test_lava_runtime import _spiking_conv, assert_no_children, digits_frames

CHIP_PROCESSES = {"Sparse", "DelaySparse", "Dense", "LIF", "LIFReset", "GradedVec", "ProdNeuron"}


def _sdsa_graph(variant, qkv, delays, steps):
    from lava_msf.runtime.proc.frame_source.process import FrameSource
    from lava_procs.recorder.process import Recorder
    from lava_msf.runtime.proc.sdsa.process import SDSA

    shape = (1, *qkv[0].shape[1:])  # a batch of one: the decomposition is per sample
    neuron = fx.LifParams(vth_mant={"v2": 16, "v1_kv": 6, "v1_qk": 4}[variant])
    sdsa = SDSA(shape=shape, variant=variant, heads=2, scale=4, vth_mant=neuron.vth_mant, i_decay=neuron.i_decay,
                v_decay=neuron.v_decay, reset_interval=5, reset_offset=1, delays=delays)
    for x, port in zip(qkv, (sdsa.q_in, sdsa.k_in, sdsa.v_in)):
        FrameSource(frames=x[:, None], graded=False).s_out.connect(port)
    rec = Recorder(shape=shape, steps=steps)
    sdsa.s_out.connect(rec.a_in)
    return sdsa, rec


@pytest.mark.parametrize("variant", ["v2", "v1_kv", "v1_qk"])
def test_decomposed_sdsa_equals_direct_model(variant):
    """Same inputs, port delays (1, 0, 2), a reset every 5 steps: the decomposed
    output is the direct one, `latency` steps later; its leaves are stock processes."""
    from lava.magma.core.run_conditions import RunSteps

    rng = np.random.default_rng(17)
    delays, shape = (1, 0, 2), (3, 2, 8)
    latency = sdsa_decomposition(shape, variant, 2, 4, delays).latency
    steps = 12 + latency
    qkv = [np.zeros((steps, *shape), dtype=np.int32) for _ in range(3)]
    for x, p in zip(qkv, (0.5, 0.4, 0.6)):
        x[:12] = rng.random((12, *shape)) < p
    outputs = {}
    for backend in ("lava-cpu", "lava-cpu-decomposed"):
        sdsa, rec = _sdsa_graph(variant, qkv, delays, steps)
        try:
            sdsa.run(condition=RunSteps(num_steps=steps), run_cfg=get_backend(backend).run_config())
            outputs[backend] = rec.record.get()
            leaves = {type(p).__name__ for p in sdsa.runtime._executable.process_list} - {"FrameSource", "Recorder"}
        finally:
            sdsa.stop()
    assert leaves <= CHIP_PROCESSES and "LIFReset" in leaves
    direct, decomposed = outputs["lava-cpu"], outputs["lava-cpu-decomposed"]
    assert 0 < direct.mean() < 1
    np.testing.assert_array_equal(decomposed[latency:], direct[:steps - latency])
    assert not decomposed[:latency].any()


@pytest.mark.parametrize("backend", ["lava-cpu", "lava-cpu-decomposed"])
def test_merge_aligns_branches_of_unequal_length(backend):
    """in -> c1 (spikes) -> c2 (current), in -> c3 (current); merge(c2, c3) -> SN:
    c2 arrives one Lava step after c3, the merge must delay c3 (directly, or
    with a relay neuron in the decomposed merge)."""
    rng = np.random.default_rng(3)
    layers = [Layer("in", "input", (2, 6, 6)),
              _spiking_conv("c1", 0, 2, 4, rng, exp=-1),
              _spiking_conv("c2", 1, 4, 4, rng, neuron=False, bias=True, exp=-2),
              _spiking_conv("c3", 0, 2, 4, rng, neuron=False, bias=True, exp=-1),
              Layer("merge", "merge", (4, 6, 6), (2, 3)),
              Layer("sn", "neuron", (4, 6, 6), (4,), neuron=fx.LifParams())]
    net = Network(layers, timesteps=5).validate()
    merge_latency = {"lava-cpu": 0, "lava-cpu-decomposed": 1}[backend]
    assert net.latencies(get_backend(backend).decomposed) == [0, 1, 2, 1, 2 + merge_latency, 2 + merge_latency]
    frames = (rng.random((3, 2, 6, 6, 5)) < 0.4).astype(np.int64)
    probes = {}
    ref = Executor(net).run(frames, probes)
    with LavaRunner(net, backend, batch_samples=3, probes=["merge"]) as runner:
        out, lava_probes = runner.run(frames)
        assert runner.graph.processes["4:merge"].proc_params["delays"] == (0, 1)
    assert 0 < ref.mean() < 1
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(lava_probes["merge"], np.stack(probes["merge"], axis=-1))


def test_micro_decomposed_equals_reference():
    """A whole msf_micro (V2 SDSA, membrane shortcuts) with every SDSA and merge
    decomposed: the readout and the attention spikes equal the reference executor."""
    net = export_network(warmed_model("msf_micro", sdsa="v2", timesteps=2))
    frames = digits_frames(net, 2)
    probes = {}
    ref = Executor(net).run(frames, probes)
    attention = "stage3.1.sdsa.attention"
    with LavaRunner(net, "lava-cpu-decomposed", batch_samples=2, probes=[attention]) as runner:
        out, lava_probes = runner.run(frames)
        leaves = {type(p).__name__ for p in runner.graph.source.runtime._executable.process_list}
    assert {"SDSA", "Merge"}.isdisjoint(leaves) and {"ProdNeuron", "GradedVec"} <= leaves
    assert ref.any()
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(lava_probes[attention], np.stack(probes[attention], axis=-1))
    assert_no_children()


@pytest.mark.parametrize("variant", ["v2", "v1_kv", "v1_qk"])
def test_layout_counts_match_its_matrices(variant):
    """Each projection's declared fan-in and fan-out (what inspect counts) are
    those of the weight matrix the runtime builds; every input path is aligned."""
    shape, heads = (3, 2, 8), 2
    dec = sdsa_decomposition(shape, variant, heads, 4, (1, 0, 2))
    sizes = {p.name: p.size for p in dec.populations}
    n_in = int(np.prod(shape))
    for proj in dec.projections:
        rows, cols = proj.matrix_entries()
        n_dst = n_in if proj.dst == OUTPUT else sizes[proj.dst]
        n_src = n_in if proj.src.startswith("in:") else sizes[proj.src]
        pairs = set(zip(rows.tolist(), cols.tolist()))
        assert len(pairs) == len(rows) == proj.synapses(n_dst), proj.name
        assert (np.bincount(rows, minlength=n_dst) == proj.fan_in).all(), proj.name
        assert (np.bincount(cols, minlength=n_src) == proj.fan_out).all(), proj.name
    hops = {"v2": (4, 4), "v1_kv": (2, 3), "v1_qk": (2, 3)}[variant]
    assert (dec.depth("attention"), dec.latency) == hops
    assert merge_decomposition((4, 3, 3), (0, 2, 1)).latency == 1


def test_loihi2_backend_fails_at_once_with_one_line(tmp_path, capsys):
    with pytest.raises(BackendUnavailable, match="lava-loihi"):
        get_backend("loihi2")
    assert main(["run", str(tmp_path / "absent.net"), "--backend", "loihi2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "lava-loihi" in err and "lava-cpu-decomposed" in err
