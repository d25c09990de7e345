"""Streaming: the binner equals offline binning, the continuous Lava run
equals offline per-recording classification bit-exactly, the fused backend
equals the reference, the CLI, and clean ends (errors, interrupts)."""

import json
import subprocess

import numpy as np
import pytest

from conftest import warmed_model
from test_lava_runtime import assert_no_children
from lava_msf.data import load_dataset
from lava_msf.errors import ConfigError
from lava_msf.events import EventFormatError, open_events, synth, to_frames, write_events
from lava_msf.export import export_network
from lava_msf.netfile import write_net
from lava_msf.reference import Executor, network_inputs, predictions
from lava_msf.runtime import LavaRunner
from lava_msf.events.binning import EventBinner
from lava_msf.stream import EventStream

RECORDINGS = 3


@pytest.fixture(scope="module")
def dvs_net():
    net = export_network(warmed_model("msf_micro", dataset="dvs-synth", in_channels=2))
    data = load_dataset("dvs-synth", "test", 32, net.timesteps, limit=RECORDINGS)
    net.meta["data"] = {"dataset": data.name, **data.info}
    return net, data


def concatenated(n=RECORDINGS):
    """dvs-synth test recordings back to back, each shifted by its duration."""
    parts = []
    for i, (ev, _) in enumerate(synth.split_recordings("test", 32, limit=n)):
        ev = ev.copy()
        ev["t"] += i * synth.DURATION_US
        parts.append(ev)
    return np.concatenate(parts)


def test_binner_equals_offline_binning():
    ev = concatenated()
    bin_us = 7000
    n_bins = int(ev["t"][-1]) // bin_us + 1
    offline = (to_frames(ev, (32, 32), bin_us, n_bins) > 0).astype(np.int32)
    for size in (1, 333, 10 ** 6):
        binner = EventBinner((32, 32, 2), (2, 32, 32), bin_us, t0=0)
        frames = [f for i in range(0, len(ev), size) for _, f, _ in binner.push(ev[i:i + size])]
        frames += [f for _, f, _ in binner.flush()]
        np.testing.assert_array_equal(np.stack(frames), offline)
    # a clock tick closes bins without events; events before them are an error
    binner = EventBinner((32, 32, 2), (2, 32, 32), 1000, t0=0)
    assert len(list(binner.push((ev[:0], 5000)))) == 5
    with pytest.raises(EventFormatError, match="goes back"):
        list(binner.push(ev[ev["t"] < 3000]))
    # events before the first bin are counted as late, not binned
    binner = EventBinner((32, 32, 2), (2, 32, 32), 1000, t0=3000)
    list(binner.push(ev[:500]))
    assert binner.late == int((ev["t"][:500] < 3000).sum()) > 0


@pytest.mark.parametrize("backend", ["lava-cpu-fused", "lava-cpu"])
def test_stream_equals_offline_classification(dvs_net, backend):
    net, data = dvs_net
    offline = Executor(net).run(network_inputs(net, data.x))  # (N, C, 1, 1, T)
    stream = EventStream(net, (32, 32, 2), backend=backend, t0=0)
    ev = concatenated()
    decisions = list(stream.run(ev[i:i + 2000] for i in range(0, len(ev), 2000)))
    assert [d.window for d in decisions] == list(range(RECORDINGS))
    scores = np.array([d.scores for d in decisions])
    np.testing.assert_array_equal(scores, offline.sum(-1).reshape(RECORDINGS, -1))  # bit-exact readouts
    assert [d.label for d in decisions] == list(predictions(offline))
    assert np.abs(scores).sum() > 0  # the comparison is not between zeros
    r = stream.report()
    assert r["steps"] == RECORDINGS * net.timesteps and r["events"] == len(ev) and r["decisions"] == RECORDINGS
    assert r["step_ms"]["count"] == r["steps"]
    assert_no_children()


def test_fused_backend_batches_equal_reference(dvs_net):
    net, data = dvs_net
    frames = network_inputs(net, data.x)
    probed = net.layers[3].name
    with LavaRunner(net, "lava-cpu-fused", batch_samples=2, probes=[probed]) as runner:
        readout, probes = runner.run(frames)
    values = {}
    np.testing.assert_array_equal(readout, Executor(net).run(frames, values))
    np.testing.assert_array_equal(probes[probed], np.stack(values[probed], axis=-1))


def test_interrupted_stream_ends_cleanly(dvs_net):
    net, _ = dvs_net
    ev = concatenated(2)

    def chunks():
        yield ev[:len(ev) // 2]
        raise KeyboardInterrupt

    stream = EventStream(net, (32, 32, 2), backend="lava-cpu-fused", t0=0)
    got = []
    with pytest.raises(KeyboardInterrupt):
        for d in stream.run(chunks()):
            got.append(d)
    assert stream.report()["steps"] > 0
    assert_no_children()


def test_stream_cli(dvs_net, tmp_path, cli_env, python):
    net, data = dvs_net
    write_net(net, tmp_path / "m.net")
    write_events(tmp_path / "s.h5", concatenated(2), (32, 32, 2))
    cmd = [python, "-m", "lava_msf", "stream", str(tmp_path / "m.net"), "--events", str(tmp_path / "s.h5"),
           "--backend", "lava-cpu-fused", "--json"]
    out = subprocess.run(cmd + ["--chunk-steps", "3"], capture_output=True, text=True, env=cli_env, timeout=300)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert len(r["decisions"]) == 2 and r["bin_us"] == data.info["bin_us"] and not r["interrupted"]
    assert r["chunk_steps"] == 3 and r["steps"] == 2 * net.timesteps
    assert r["decisions"][0]["name"] in synth.CLASSES
    (tmp_path / "bad.h5").write_bytes(b"not hdf5")
    bad = subprocess.run(cmd[:6] + [str(tmp_path / "bad.h5")], capture_output=True, text=True, env=cli_env,
                         timeout=300)
    assert bad.returncode == 2 and "bad.h5" in bad.stderr and "Traceback" not in bad.stderr


def test_long_silence_in_a_dat_file_is_skipped_exactly(dvs_net, tmp_path):
    """A DAT file whose second recording comes 2**32 us after the first (its
    32-bit timestamps wrap; the reader unwraps them): the stream skips the
    silence in whole windows instead of running ~171,800 empty steps, says
    so, and each window's decision is the one it has with the silence short."""
    from expelliarmus import Wizard

    net, data = dvs_net
    window_us = net.timesteps * data.info["bin_us"]
    a, b = concatenated(1), concatenated(1)
    raw = np.zeros(len(a) * 2, dtype=[("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "u1")])
    for k in ("t", "x", "y", "p"):
        raw[k] = np.concatenate([a[k], b[k]])  # b's timestamps restart: +2**32 us when read
    Wizard(encoding="dat").save(tmp_path / "gap.dat", raw)
    events = open_events(tmp_path / "gap.dat", (32, 32))
    with EventStream(net, events.sensor_size, backend="lava-cpu-fused", t0=0) as stream:
        got = list(stream.run(events.chunks(5000)))
    r = stream.report()
    # the reference: b after a with the silence cut by a whole number of windows
    cut = (1 << 32) // window_us * window_us - window_us
    short = np.concatenate([a, b])
    short["t"][len(a):] += (1 << 32) - cut
    with EventStream(net, (32, 32, 2), backend="lava-cpu-fused", t0=0, max_silence_us=None) as ref_stream:
        ref = {d.window: d for d in ref_stream.run([short])}
    skipped_windows = cut // window_us
    assert r["silences_skipped"] == 1 and r["skipped_us"] > (1 << 32) - 2 * 10 ** 6
    assert r["steps"] < 30 * net.timesteps and r["events"] == 2 * len(a)  # not 171,800 steps
    after = [d for d in got if d.start_us > 10 ** 9]
    assert after and after[0].skipped_us == r["skipped_us"]
    assert all(d.skipped_us == 0 for d in got if d is not after[0])
    for d in got:
        if d.events:  # windows with events: the same decision as with the short silence
            d_ref = ref[d.window - skipped_windows if d in after else d.window]
            assert (d.scores, d.events, d.label) == (d_ref.scores, d_ref.events, d_ref.label)
    assert sum(d.events for d in got) == 2 * len(a) and sum(1 for d in after if d.events) >= 1
    # the silence streamed before the skip is the policy's second (default max_silence_us), rounded to windows
    empty = [d for d in got if not d.events]
    assert [d.window for d in empty] == list(range(1, (int(a["t"][-1]) + 10 ** 6) // window_us + 1))


def test_chunked_steps_give_the_single_step_decisions(dvs_net):
    """Several model steps per Lava step (one pipe message): every decision
    equals the one-step-per-Lava-step stream's, bit for bit, with resets
    inside a chunk (chunk 3; reset 2 or the window, 4), a padded last chunk, and a
    skipped silence (the binner stops at a whole chunk, so no frame waits)."""
    net, _ = dvs_net
    a, b = concatenated(1), concatenated(1)
    b["t"] += synth.DURATION_US + 405_000  # a silence past max_silence_us; 121 bins in all
    ev = np.concatenate([a, b])
    chunks = [ev[i:i + 1500] for i in range(0, len(ev), 1500)]

    def decisions(**kw):
        with EventStream(net, (32, 32, 2), bin_us=5000, backend="lava-cpu-fused", t0=0, **kw) as stream:
            got = {d.window: d for d in stream.run(iter(chunks))}
        return got, stream.report()

    full, r_full = decisions(chunk_steps=1, reset=2, max_silence_us=None)
    assert r_full["chunk_steps"] == 1 and r_full["silences_skipped"] == 0
    for kw in ({"reset": 2, "max_silence_us": None}, {"reset": 2, "max_silence_us": 50_000}, {"reset": "window"}):
        chunked, r = decisions(chunk_steps=3, **kw)
        reference = full if kw["reset"] == 2 else decisions(chunk_steps=1, reset="window", max_silence_us=None)[0]
        skips = kw.get("max_silence_us", 10 ** 6) == 50_000
        assert r["chunk_steps"] == 3 and r["silences_skipped"] == skips
        assert r["steps"] == (r_full["steps"] - r["skipped_us"] // 5000) and (skips or r["steps"] % 3)  # padded
        assert r["events"] == len(ev) and r["step_ms"]["count"] == r["steps"]
        for w, d in chunked.items():
            ref = reference[w]
            assert (d.scores, d.label, d.events, d.steps, d.start_us) == \
                (ref.scores, ref.label, ref.events, ref.steps, ref.start_us), (kw, w)
        assert sum(d.events for d in chunked.values()) == len(ev)
        assert any(np.abs(d.scores).sum() for d in chunked.values())  # not a comparison of zeros
    assert_no_children()


def test_stream_parameters_are_checked_not_replaced(dvs_net):
    net, _ = dvs_net
    for kw, message in (({"bin_us": 0}, "--bin-us must be in 1.."), ({"window": 0}, "--window must be in 1.."),
                        ({"window": 1 << 40}, "--window"), ({"reset": 0}, "--reset must be in 1.."),
                        ({"reset": "sometimes"}, "--reset must be an integer"), ({"t0": -10 ** 18}, "--start-us"),
                        ({"max_silence_us": -1}, "--max-silence-us"), ({"sensor_size": (10 ** 23, 5)}, "sensor width"),
                        ({"chunk_steps": 0}, "--chunk-steps must be in 1.."),
                        ({"chunk_steps": 4, "backend": "lava-cpu"}, "needs a fused backend")):
        with pytest.raises(ConfigError, match=message):
            EventStream(net, **{"sensor_size": (32, 32, 2), **kw})
    meta = net.meta
    try:
        for data, message in (("digits", "meta 'data' must be a mapping"),
                              ({"bin_us": 2.5e4}, "data.bin_us must be an"),
                              ({"bin_us": 10, "classes": [1, 2]}, "classes must be a list of names")):
            net.meta = {**meta, "data": data}
            with pytest.raises(ConfigError, match=message):
                EventStream(net, (32, 32, 2))
    finally:
        net.meta = meta
    assert_no_children()
