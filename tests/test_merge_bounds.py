"""A chain of membrane-shortcut merges stays in the 24-bit range on every
backend: each merge saturates its sum as a synapse's accumulator does, so Lava's
int32 ports and neurons compute what the reference computes; the decomposed
merge (stock graded neurons, no saturation) refuses a sum that may leave it."""

import numpy as np
import pytest

from lava_msf import fixedpoint as fx
from lava_msf.chip.loihi2 import LOIHI2
from lava_msf.chip.report import inspect_network
from lava_msf.graph import Layer, Network
from lava_msf.reference import Executor
from lava_msf.runtime import LavaRunner
from lava_msf.runtime.builder import BuildError

SHAPE = (4, 3, 3)
LINKS = 4
# per channel: a branch at the top of the range, at the bottom, half the top, small
BIAS = np.array([fx.SYNAPSE_MAX, fx.SYNAPSE_MIN, 1 << 22, 1000])


def chain(bias=BIAS) -> Network:
    """input -> LINKS + 1 bias-driven convs (currents); m1 = c0 + c1, m_k = m_(k-1) + c_k; SN on the last.
    Unsaturated, the last merge would reach 5 * 2^23 = 2^25.3: its neuron's input << 6 passes int32."""
    rng = np.random.default_rng(7)
    layers = [Layer("in", "input", (2,) + SHAPE[1:])]
    for k in range(LINKS + 1):
        layers.append(Layer(f"c{k}", "conv", SHAPE, (0,), weight=rng.integers(-20, 20, (4, 2, 3, 3)) * 2,
                            bias=bias, attrs={"padding": 1}))
    convs = list(range(1, LINKS + 2))
    prev = convs[0]
    for k in range(1, LINKS + 1):
        layers.append(Layer(f"m{k}", "merge", SHAPE, (prev, convs[k])))
        prev = len(layers) - 1
    layers.append(Layer("sn", "neuron", SHAPE, (prev,), neuron=fx.LifParams()))
    return Network(layers, timesteps=3, meta={"input": "frames"}).validate()


def frames(n=2):
    return (np.random.default_rng(1).random((n, 2, 3, 3, 3)) < 0.5).astype(np.int64)


def test_reference_saturates_every_merge_of_the_chain():
    probes = {}
    Executor(chain()).run(frames(), probes)
    last = np.stack(probes[f"m{LINKS}"], axis=-1)  # (N, C, H, W, T)
    assert last.min() >= fx.SYNAPSE_MIN and last.max() <= fx.SYNAPSE_MAX
    assert (last[:, 0] == fx.SYNAPSE_MAX).all() and (last[:, 1] == fx.SYNAPSE_MIN).all()
    assert (np.stack(probes["m2"], axis=-1)[:, 2] == fx.SYNAPSE_MAX).all()  # 3 * 2^22: saturated at link 2
    assert (np.abs(np.stack(probes["m1"], axis=-1)[:, 3]) < 1 << 20).all()  # small sums are untouched


def test_inspect_flags_the_chain():
    rows = {r["name"]: r for r in inspect_network(chain(), LOIHI2)["layers"]}
    assert rows[f"m{LINKS}"]["current_bound"] > 4 * fx.SYNAPSE_MAX


def test_lava_agrees_with_the_reference_on_a_saturating_chain():
    """(lava-cpu-fused runs the reference's own step.)"""
    net, x = chain(), frames()
    probes = {}
    ref = Executor(net).run(x, probes)
    with LavaRunner(net, "lava-cpu", batch_samples=2, probes=[f"m{LINKS}"]) as runner:
        out, lava_probes = runner.run(x)
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(lava_probes[f"m{LINKS}"], np.stack(probes[f"m{LINKS}"], axis=-1))
    assert 0 < ref.mean() < 1


def test_decomposed_refuses_a_merge_that_may_leave_the_range():
    with pytest.raises(BuildError, match=r"^layer 6 \(m1\): its sum may reach \d+, past the 24-bit range"):
        with LavaRunner(chain(), "lava-cpu-decomposed", batch_samples=2) as runner:
            runner.run(frames())


def test_decomposed_builds_a_chain_that_stays_in_range():
    small = np.array([1000, -1000, 500, 7])
    net, x = chain(small), frames()
    ref = Executor(net).run(x)
    with LavaRunner(net, "lava-cpu-decomposed", batch_samples=2) as runner:
        out, _ = runner.run(x)
    np.testing.assert_array_equal(out, ref)
    assert 0 < ref.mean() < 1
