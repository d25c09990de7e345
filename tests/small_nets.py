"""Small hand-built integer networks for tests (numpy only: cheap to import in
child processes)."""

import numpy as np

from lava_msf import fixedpoint as fx
from lava_msf.graph import Layer, Network


def small_net():
    """input -> conv (MAC) -> SN -> depthwise -> pointwise + SN -> Q + SN -> SDSA v2 -> dense."""
    rng = np.random.default_rng(0)
    w = lambda *s: rng.integers(-60, 60, s) * 2  # noqa: E731
    layers = [
        Layer("input", "input", (2, 6, 6)),
        Layer("stem", "conv", (4, 6, 6), (0,), weight=w(4, 2, 3, 3), attrs={"padding": 1}),
        Layer("sn", "neuron", (4, 6, 6), (1,), neuron=fx.LifParams()),
        Layer("dw", "conv", (4, 6, 6), (2,), weight=w(4, 1, 3, 3), attrs={"padding": 1, "groups": 4}),
        Layer("pw", "conv", (8, 6, 6), (3,), weight=w(8, 4, 1, 1), neuron=fx.LifParams()),
        Layer("q", "conv", (8, 6, 6), (4,), weight=w(8, 8, 1, 1), neuron=fx.LifParams()),
        Layer("attn", "sdsa", (8, 6, 6), (5, 5, 5), neuron=fx.LifParams(vth_mant=16),
              attrs={"variant": "v2", "heads": 2, "scale": 4}),
        Layer("fc", "dense", (3, 1, 1), (6,), weight=w(3, 8 * 36)),
    ]
    return Network(layers, timesteps=3, meta={"input": "frames"}).validate()


def assert_backend_equals_reference(net, backend, frames, probe_names=()):
    """`backend` runs `net` on `frames` (N, C, H, W, T) back to back with the
    output and the probed layers equal to the reference executor's."""
    from lava_msf.reference import Executor
    from lava_msf.runtime import LavaRunner

    probes = {}
    ref = Executor(net).run(frames, probes)
    with LavaRunner(net, backend, batch_samples=len(frames), probes=probe_names) as runner:
        out, lava_probes = runner.run(frames)
    assert ref.any()
    np.testing.assert_array_equal(out, ref)
    for name in probe_names:
        np.testing.assert_array_equal(lava_probes[name], np.stack(probes[name], axis=-1))


def put_key(g, key, value) -> None:
    """Replace (or add) dataset `key` of HDF5 group `g`; None deletes it."""
    if key in g:
        del g[key]
    if value is not None:
        g.create_dataset(key, data=value)
