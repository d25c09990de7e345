"""The batched Lava graph: every project process carries a batch axis, so one
Lava step moves B samples; bit-exact with the reference executor per sample,
also for a short last batch and across runs."""

import numpy as np
import pytest

from lava_msf.errors import ConfigError
from lava_msf.export import export_network
from lava_msf.reference import Executor
from lava_msf.runtime import LavaRunner

from conftest import warmed_model
from small_nets import small_net
from test_delay_rec_average import dense_chain
from test_layer_types_dense_prediction import synapse_net

SAMPLES, BATCH, PER_RUN = 7, 3, 6  # two runs: two waves of 3, then one sample padded to a wave


def micro_net():  # merge (membrane shortcuts), SDSA, token mean, conv with and without its neuron
    return export_network(warmed_model("msf_micro", timesteps=2))


def frames_for(net, rng):
    shape = (SAMPLES, *net.layers[0].shape, net.timesteps)
    if net.graded_input:
        return rng.integers(0, 256, shape)
    return (rng.random(shape) < 0.4).astype(np.int64)


@pytest.mark.parametrize("make", [small_net, dense_chain, synapse_net, micro_net])
@pytest.mark.parametrize("backend", ["lava-cpu", "lava-cpu-fused"])
def test_batched_graph_equals_reference_with_an_uneven_last_batch(make, backend):
    """Every project process type (Conv, ConvT, Merge, SDSA, TokenMean, the
    stateful layers, stream I/O; the stock neurons, concat's and average's
    synapses) with B = 3, every layer probed."""
    net = make()
    frames = frames_for(net, np.random.default_rng(1))
    probes = {}
    ref = Executor(net).run(frames, probes)
    names = [layer.name for layer in net.layers[1:]]
    with LavaRunner(net, backend, PER_RUN, probes=names, batch=BATCH) as runner:
        assert runner.graph.batch == BATCH
        out, got = runner.run(frames)
    expected = {name: np.stack(probes[name], axis=-1) for name in names}
    assert ref.any()
    assert sum(not np.array_equal(v[0], v[-1]) for v in expected.values()) > len(names) // 2  # a mix-up would show
    np.testing.assert_array_equal(out, ref)
    for name in names:
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)


def test_decomposed_backend_refuses_a_batch_in_one_line():
    with pytest.raises(ConfigError, match=r"^backend 'lava-cpu-decomposed' runs one sample per Lava step.*batch 1$"):
        LavaRunner(small_net(), "lava-cpu-decomposed", 4, batch=2)
