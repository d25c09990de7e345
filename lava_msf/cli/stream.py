"""`stream`: a .net file run continuously on an event file."""

from ..errors import ConfigError
from .. import signals
from ..events.binning import DEFAULT_MAX_SILENCE_US
from ..events.core import MAX_COORD
from .options import add_command, add_json, integer, positive_int, print_result, reset_policy


def silence_limit(text: str):
    """--max-silence-us: microseconds >= 0, or 'none' (never skip)."""
    return None if text == "none" else integer(0, (1 << 62) - 1)(text)


def handle_stream(ns) -> int:
    """Run a .net file continuously on an event file, streamed in chunks:
    a decision per window, throughput and latency. Ctrl-C ends the run and
    reports what was decided so far."""
    from dataclasses import asdict

    from ..events import open_events
    from ..netfile import read_net
    from ..stream import EventStream

    net = read_net(ns.net)
    if net.timesteps < 1 and ns.window is None:
        raise ConfigError(f"{ns.net}: the file gives no time steps: give --window")
    events = open_events(ns.events, ns.sensor)
    if events.sensor_size is None:
        raise ConfigError(f"{ns.events}: the file does not state its sensor size: give --sensor W H")
    stream = EventStream(net, events.sensor_size, ns.bin_us, ns.window, ns.reset, ns.backend, ns.start_us,
                         max_silence_us=ns.max_silence_us, chunk_steps=ns.chunk_steps)
    decisions, interrupted, status = [], False, 0
    try:
        for d in stream.run(events.chunks(ns.chunk_events)):
            decisions.append(asdict(d))
            if not ns.json and not ns.quiet:
                skipped = f"  (after {d.skipped_us / 1e6:.3f} s of silence, skipped)" if d.skipped_us else ""
                print(f"window {d.window:6d}  {d.start_us / 1e6:10.3f}-{d.end_us / 1e6:.3f} s  "
                      f"{d.name:16s} events {d.events:7d}  latency {d.latency_ms or float('nan'):8.1f} ms{skipped}",
                      flush=True)
    except KeyboardInterrupt as e:  # Ctrl-C or SIGTERM: report what was decided so far
        interrupted, status = True, signals.exit_status(e)
    finally:
        stream.close()
    r = {**stream.report(), "net": ns.net, "events_file": ns.events, "interrupted": interrupted,
         "decisions": decisions}
    st, lat = r["step_ms"], r["decision_latency_ms"]
    print_result(r, ns.json, "\n".join([
        f"{ns.events} -> {ns.net} on {r['backend']}{' (interrupted)' if interrupted else ''}: "
        f"{r['steps']} steps of {r['bin_us']} us ({r['stream_seconds']:.2f} s of events), "
        f"{len(decisions)} decisions (window {r['window_steps']} steps, reset every "
        f"{'never' if ns.reset is None else r['reset_interval']}; {r['chunk_steps']} steps per Lava step)",
        f"  throughput {r['steps_per_second']:.1f} steps/s, {r['events_per_second']:.0f} events/s "
        f"({r['events']} events, {r['late_events']} late); compile {r['compile_seconds']:.1f} s; "
        f"{r['silences_skipped']} silences skipped ({r['skipped_us'] / 1e6:.3f} s)",
        f"  step time ms: mean {st.get('mean', 0):.2f}, p50 {st.get('p50', 0):.2f}, p95 {st.get('p95', 0):.2f}, "
        f"max {st.get('max', 0):.2f}; pipeline latency {r['pipeline_latency_steps']} steps, "
        f"decision latency p50 {lat.get('p50', float('nan')):.1f} ms"]))
    return status


def register(sub) -> None:
    s = add_command(sub, "stream", handle_stream, "run a .net file continuously on an event file (AEDAT4, N-MNIST "
                    ".bin, Prophesee .dat/.raw, .npz, .h5): a decision per window, throughput, latency",
                    inputs=("net", "events"))
    s.add_argument("net")
    s.add_argument("--events", required=True, help="event file, read in chunks")
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
