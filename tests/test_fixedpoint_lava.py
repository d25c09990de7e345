"""lava_msf.fixedpoint is Lava's LIF: run Lava's own fixed-point LIF process on the
CPU simulator and compare spikes and voltages bit-exactly."""

import numpy as np
import pytest

from lava_msf import fixedpoint as fx


@pytest.mark.parametrize("params", [fx.LifParams.from_threshold(fx.THRESHOLD),
                                    fx.LifParams(vth_mant=100, i_decay=1024, v_decay=128)])
def test_fixed_point_neuron_equals_lavas_lif_process(params):
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.process import LIF

    rng = np.random.default_rng(5)
    steps, n = 12, 40
    a = rng.integers(-90, 160, size=(n, steps))
    a[0] = 2 ** 17 + 5  # current wrap-around
    a[1] = 2 ** 16 + 2 ** 15  # voltage saturation (threshold below is never reached by it)
    netx = params.netx_neuron()
    # NetX maps CUBA to Lava's LIF as du = iDecay - 1, dv = vDecay.
    source = Source(data=a.astype(np.int32))
    lif = LIF(shape=(n,), du=netx["iDecay"] - 1, dv=netx["vDecay"], vth=netx["vThMant"],
              bias_mant=0, bias_exp=0)
    sink = Sink(shape=(n,), buffer=steps)
    source.s_out.connect(lif.a_in)
    lif.s_out.connect(sink.a_in)
    volts = []
    try:
        for _ in range(steps):
            lif.run(condition=RunSteps(num_steps=1), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
            volts.append(lif.v.get().astype(np.int64))
        lava_spikes = sink.data.get().astype(bool)
    finally:
        lif.stop()

    spikes, v_before_reset = fx.lif_run(a, params)
    np.testing.assert_array_equal(lava_spikes, spikes)
    # Lava's v is read after the reset of that step
    np.testing.assert_array_equal(np.stack(volts, -1), np.where(spikes, 0, v_before_reset))
    assert spikes.any() and (~spikes).any()
