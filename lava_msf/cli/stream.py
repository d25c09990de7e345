"""`stream`: a .net file run continuously on an event file, or on a
dvs-synth-scenes stream (detection, segmentation)."""

import numpy as np

from ..errors import ConfigError
from .. import signals
from ..events.binning import DEFAULT_MAX_SILENCE_US
from ..events.core import MAX_COORD
from .options import FILE, add_command, add_json, integer, positive_int, print_result, reset_policy


def silence_limit(text: str):
    """--max-silence-us: microseconds >= 0, or 'none' (never skip)."""
    return None if text == "none" else integer(0, (1 << 62) - 1)(text)


LINE_BOXES = 5  # the best boxes a window's text line shows (--json has all)


def _decision_line(d) -> str:
    skipped = f"  (after {d.skipped_us / 1e6:.3f} s of silence, skipped)" if d.skipped_us else ""
    p = d.prediction
    if p is None:
        what = f"{d.name:16s}"
    elif "boxes" in p:
        shown = list(zip(p["names"], p["scores"], p["boxes"]))[:LINE_BOXES]
        what = f"{d.name}: " + ", ".join(f"{n} {s:.2f} [{' '.join(f'{v:.1f}' for v in b)}]" for n, s, b in shown)
        what += f", ... ({len(p['boxes']) - len(shown)} more)" if len(p["boxes"]) > len(shown) else ""
    else:
        what = "mask: " + ", ".join(f"{n} {c}" for n, c in p["pixels"].items())
    return (f"window {d.window:6d}  {d.start_us / 1e6:10.3f}-{d.end_us / 1e6:.3f} s  {what}  events {d.events:7d}  "
            f"latency {d.latency_ms or float('nan'):8.1f} ms{skipped}")


def _source(ns, net):
    """(chunks, sensor size, bin_us, t0, the scene stream or None) of --events or --scenes."""
    if ns.events is not None:
        from ..events import open_events

        for option in ("windows", "check_offline"):
            if getattr(ns, option):
                raise ConfigError(f"--{option.replace('_', '-')} needs --scenes")
        events = open_events(ns.events, ns.sensor)
        if events.sensor_size is None:
            raise ConfigError(f"{ns.events}: the file does not state its sensor size: give --sensor W H")
        return events.chunks(ns.chunk_events), events.sensor_size, ns.bin_us, ns.start_us, None
    from ..pipeline import scene_chunks, scene_stream

    for option in ("window", "sensor", "start_us"):
        if getattr(ns, option) is not None:
            raise ConfigError(f"--{option.replace('_', '-')}: --scenes streams windows of the network's T steps "
                              f"from t = 0 on its own sensor")
    scenes = scene_stream(net, ns.net, ns.scenes, ns.windows, ns.seed)
    if ns.bin_us is not None and ns.bin_us != scenes.bin_us:
        raise ConfigError(f"--bin-us {ns.bin_us}: dvs-synth-scenes at T={net.timesteps} has bins of "
                          f"{scenes.bin_us} us")
    return scene_chunks(scenes, ns.chunk_events), scenes.sensor_size, scenes.bin_us, 0, scenes


def _gif(ns, stream, decisions, scenes) -> None:
    """--gif: each window's boxes (or mask) over its event frames, ground truth in white with --scenes."""
    from ..analysis.pictures import prediction_picture, write_gif
    from ..tasks.evaluate import window_prediction

    net, images = stream.net, []
    for d in decisions:  # a last partial window too
        found = window_prediction(net.meta, np.reshape(d.scores, net.output.shape), d.steps, net.layers[0].shape[1:])
        gt = None if scenes is None or d.steps != scenes.timesteps else scenes.window_targets(d.window)[:2]
        images.append(prediction_picture(d.frames, stream.task, found, stream.classes, f"{d.end_us / 1e3:.0f} ms", gt))
    if images:
        write_gif(ns.gif, images, frame_ms=max(20, stream.window * stream.binner.bin_us // 1000))


def handle_stream(ns) -> int:
    """Run a .net file continuously on an event file (or a dvs-synth-scenes
    stream), streamed in chunks: a decision per window (a detection or
    segmentation network's boxes or mask), throughput and latency. Ctrl-C ends
    the run and reports what was decided so far."""
    from dataclasses import asdict

    from ..netfile import read_net
    from ..stream import EventStream
    from ..tasks.evaluate import CLASSIFY, task_of

    net = read_net(ns.net)
    if net.timesteps < 1 and ns.window is None:
        raise ConfigError(f"{ns.net}: the file gives no time steps: give --window")
    task = task_of(net.meta)
    if ns.gif and task == CLASSIFY:
        raise ConfigError(f"--gif draws boxes or masks: {ns.net} is a classification network")
    if ns.check_offline and ns.reset != "window":
        raise ConfigError("--check-offline compares windows run from a reset: it needs --reset window")
    chunks, sensor_size, bin_us, t0, scenes = _source(ns, net)
    stream = EventStream(net, sensor_size, bin_us, ns.window, ns.reset, ns.backend, t0,
                         max_silence_us=ns.max_silence_us, chunk_steps=ns.chunk_steps, keep_frames=bool(ns.gif))
    decisions, interrupted, status = [], False, 0
    try:
        for d in stream.run(chunks):
            decisions.append(d)
            if not ns.json and not ns.quiet:
                print(_decision_line(d), flush=True)
    except KeyboardInterrupt as e:  # Ctrl-C or SIGTERM: report what was decided so far
        interrupted, status = True, signals.exit_status(e)
    finally:
        stream.close()
    dropped = {"frames"} | ({"scores"} if task != CLASSIFY else set())  # a dense window's scores: the whole map
    r = {**stream.report(), "net": ns.net, "events_file": ns.events, "scenes": ns.scenes, "task": task,
         "interrupted": interrupted,
         "decisions": [{k: v for k, v in asdict(d).items() if k not in dropped} for d in decisions]}
    lines = []
    if scenes is not None and task != CLASSIFY:
        from ..pipeline import offline_check, stream_metric
        from ..tasks.evaluate import metric_text

        r["metric"] = m = stream_metric(net, scenes, decisions)
        lines.append(f"  {metric_text(task, m)} against the scenes' targets ({m['windows']} windows)")
        if ns.check_offline:
            r["offline"] = o = offline_check(net, scenes, decisions)
            lines.append(f"  streamed == offline per window (reference executor): outputs {o['identical_outputs']}"
                         f"/{o['windows']}, predictions {o['identical_predictions']}/{o['windows']} identical")
            status = status or (0 if o["identical"] else 1)
    if ns.gif:
        _gif(ns, stream, decisions, scenes)
        r["gif"] = ns.gif
        lines.append(f"  gif: {ns.gif}")
    st, lat = r["step_ms"], r["decision_latency_ms"]
    source = ns.events or f"dvs-synth-scenes {ns.scenes}"
    print_result(r, ns.json, "\n".join([
        f"{source} -> {ns.net} on {r['backend']}{' (interrupted)' if interrupted else ''}: "
        f"{r['steps']} steps of {r['bin_us']} us ({r['stream_seconds']:.2f} s of events), "
        f"{len(decisions)} decisions (window {r['window_steps']} steps, reset every "
        f"{'never' if ns.reset is None else r['reset_interval']}; {r['chunk_steps']} steps per Lava step)",
        f"  throughput {r['steps_per_second']:.1f} steps/s, {r['events_per_second']:.0f} events/s "
        f"({r['events']} events, {r['late_events']} late); compile {r['compile_seconds']:.1f} s; "
        f"{r['silences_skipped']} silences skipped ({r['skipped_us'] / 1e6:.3f} s)",
        f"  step time ms: mean {st.get('mean', 0):.2f}, p50 {st.get('p50', 0):.2f}, p95 {st.get('p95', 0):.2f}, "
        f"max {st.get('max', 0):.2f}; pipeline latency {r['pipeline_latency_steps']} steps, "
        f"decision latency p50 {lat.get('p50', float('nan')):.1f} ms", *lines]))
    return status


def register(sub) -> None:
    s = add_command(sub, "stream", handle_stream, "run a .net file continuously on an event file (AEDAT4, N-MNIST "
                    ".bin, Prophesee .dat/.raw, .npz, .h5) or a dvs-synth-scenes stream: a decision (boxes, a "
                    "mask) per window, throughput, latency", inputs=("net", "events"), outputs={"gif": FILE})
    s.add_argument("net")
    source = s.add_mutually_exclusive_group(required=True)
    source.add_argument("--events", default=None, help="event file, read in chunks")
    source.add_argument("--scenes", choices=("test", "train", "continuous"), default=None,
                   help="instead of --events, for a detection or segmentation network: dvs-synth-scenes, a split's "
                   "recordings back to back (each window one sample) or one continuous scene; the windows' "
                   "targets give the task metric")
    s.add_argument("--windows", type=positive_int, default=None,
                   help="--scenes: the split's first N recordings (default: all), or the continuous scene's "
                   "length in windows (default 50)")
    s.add_argument("--seed", type=integer(0, (1 << 32) - 1), default=0, help="--scenes continuous: which scene")
    s.add_argument("--check-offline", action="store_true",
                   help="--scenes: also run each window offline on the reference executor and check that the "
                   "streamed outputs and predictions equal it bit for bit (exit 1 if not)")
    s.add_argument("--gif", default=None, metavar="OUT.gif",
                   help="an animated GIF of each window's boxes or mask over its event frames")
    s.add_argument("--bin-us", type=positive_int, default=None,
                   help="microseconds per step (default: from the .net file)")
    s.add_argument("--window", type=positive_int, default=None, help="steps per decision (default: the model's T)")
    s.add_argument("--reset", type=reset_policy, default="window",
                   help="reset neuron state every window (default), every N steps, or never")
    s.add_argument("--backend", default="lava-cpu", help="a Lava backend (`lava-msf backends`)")
    s.add_argument("--sensor", type=integer(1, MAX_COORD + 1), nargs=2, default=None, metavar=("W", "H"),
                   help="sensor size when the file does not state it")
    s.add_argument("--start-us", type=integer(0, (1 << 63) - 1), default=None,
                   help="time of the first bin (default: first event)")
    s.add_argument("--max-silence-us", type=silence_limit, default=DEFAULT_MAX_SILENCE_US,
                   help="past this much time without events, skip to the next event at a reset boundary "
                   f"(default {DEFAULT_MAX_SILENCE_US}; 'none' streams every empty bin; docs/events.md)")
    s.add_argument("--chunk-events", type=positive_int, default=1 << 16, help="events read per chunk")
    s.add_argument("--chunk-steps", type=positive_int, default=None,
                   help="model steps per Lava step, in one pipe message (fused backends; default: as many as keep "
                   "a frame's wait for the rest of its chunk within half the 20 ms latency budget, at most 10; "
                   "the decisions are the same for any; docs/events.md)")
    s.add_argument("--quiet", action="store_true", help="no line per decision")
    add_json(s)
