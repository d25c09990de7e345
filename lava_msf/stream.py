"""Streaming inference: events -> per-step frames -> a network running
continuously on Lava -> a decision per window.

Any iterator of event chunks drives it (a file read in chunks, a camera
driver, a socket). A chunk is an event array, or (events, now_us): now_us
promises that no later chunk has events before it, so bins up to it close
even when the scene is quiet. Memory stays bounded on an endless stream: the
pipeline keeps one open bin, one window's readout and fixed-size statistics."""

import collections
import time
from dataclasses import dataclass

import numpy as np

from .errors import ConfigError
from .events import EVENT_DTYPE, check_events, to_frames
from .events.transforms import fit_to_input
from .graph import Network
from .runtime.stream import StreamRunner

STAT_WINDOW = 4096  # step times kept for percentiles


class EventBinner:
    """Cuts a time-ordered event stream into frames (C, H, W) of bin_us each,
    mapped onto the network's size x size input (downsampling and centring
    as for training data; C = 2 polarities, or 1 merged). Bin k covers
    [t0 + k*bin_us, t0 + (k+1)*bin_us); t0 defaults to the first event's time
    rounded down to a multiple of bin_us."""

    def __init__(self, sensor_size, input_shape, bin_us: int, t0: int | None = None):
        if bin_us < 1:
            raise ConfigError(f"--bin-us must be at least 1, got {bin_us}")
        self.sensor_size = tuple(sensor_size)
        self.channels, self.size = int(input_shape[0]), int(input_shape[1])
        self.bin_us, self.t0 = int(bin_us), t0
        self.next_bin = 0  # first bin not yet emitted
        self._pending = []  # events of bins >= next_bin
        self._last_t = None
        self.events = 0  # events accepted
        self.late = 0  # events before the current bin (dropped)

    def _frames(self, upto: int):
        """Emit bins next_bin .. upto-1 from the pending events, one by one."""
        pending = np.concatenate(self._pending) if self._pending else np.empty(0, EVENT_DTYPE)
        k = (pending["t"] - self.t0) // self.bin_us
        bounds = np.searchsorted(k, np.arange(self.next_bin, max(upto, self.next_bin) + 1))
        self._pending = [pending[bounds[-1]:]]
        for i, b in enumerate(range(self.next_bin, upto)):
            part = pending[bounds[i]:bounds[i + 1]]
            counts = to_frames(part, (self.size, self.size), self.bin_us, 1, self.t0 + b * self.bin_us,
                               self.channels)[0]
            self.next_bin = b + 1
            yield (counts > 0).astype(np.int32), len(part)

    def push(self, chunk):
        """Yield (frame, events in it) for every bin the chunk completes."""
        events, now = chunk if isinstance(chunk, tuple) else (chunk, None)
        events = check_events(events, self.sensor_size, "event stream", after_us=self._last_t)
        if len(events):
            self._last_t = int(events["t"][-1])
            if self.t0 is None:
                self.t0 = int(events["t"][0]) // self.bin_us * self.bin_us
            events, _ = fit_to_input(events, self.sensor_size, self.size)
            if self.channels == 1:
                events["p"] = 0
            late = events["t"] < self.t0 + self.next_bin * self.bin_us
            self.late += int(late.sum())
            self.events += int((~late).sum())
            self._pending.append(events[~late])
        if self.t0 is None:
            return
        # bins before the last event's are complete; with now_us, all that end by then
        upto = (self._last_t - self.t0) // self.bin_us if self._last_t is not None else 0
        if now is not None:
            upto = max(upto, (int(now) - self.t0) // self.bin_us)
            self._last_t = max(self._last_t or 0, int(now) - 1)
        yield from self._frames(upto)

    def flush(self):
        """Yield the remaining bins, up to the one holding the last event."""
        if self._last_t is not None:
            yield from self._frames((self._last_t - self.t0) // self.bin_us + 1)


@dataclass
class Decision:
    window: int
    start_us: int
    end_us: int
    label: int
    name: str
    scores: list  # readout summed over the window's steps
    events: int
    steps: int  # model steps in the window (< window for a partial last one)
    latency_ms: float | None  # from pushing the window's last frame to its output (None: partial window)


class _Stats:
    """Running counts plus the last STAT_WINDOW samples for percentiles."""

    def __init__(self):
        self.count, self.total, self.max = 0, 0.0, 0.0
        self.recent = collections.deque(maxlen=STAT_WINDOW)

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.max = max(self.max, value)
        self.recent.append(value)

    def summary(self, scale: float = 1e3) -> dict:
        if not self.count:
            return {"count": 0}
        recent = np.asarray(self.recent) * scale
        return {"count": self.count, "mean": self.total / self.count * scale, "max": self.max * scale,
                **{f"p{q}": float(np.percentile(recent, q)) for q in (50, 95, 99)}}


class EventStream:
    """Runs `net` on an event stream. Iterate `run(chunks)` for decisions;
    `report()` gives throughput and latency at any time (also after an
    interrupt). reset: "window" (default: neuron state resets at each
    window, as each training sample started fresh), a step count, or None
    (never)."""

    def __init__(self, net: Network, sensor_size, bin_us: int | None = None, window: int | None = None,
                 reset="window", backend: str = "lava-cpu", t0: int | None = None, segment: int | None = None):
        data = net.meta.get("data", {})
        bin_us = bin_us or data.get("bin_us")
        if not bin_us:
            raise ConfigError("the network file does not say its event bin length: give --bin-us")
        self.window = int(window or net.timesteps)
        if self.window < 1:
            raise ConfigError(f"--window must be at least 1 step, got {window}")
        interval = self.window if reset == "window" else reset
        self.classes = list(data.get("classes", []))
        self.net = net
        self.binner = EventBinner(sensor_size, net.layers[0].shape, bin_us, t0)
        kw = {} if segment is None else {"segment": segment}
        self.runner = StreamRunner(net, backend, interval, **kw)
        self.step_time, self.decision_latency = _Stats(), _Stats()
        self.decisions = 0
        self._started = self._finished = None
        self._window_sum = None
        self._window_events = 0
        self._out_step = 0  # model step of the next output
        self._pushed_at = collections.deque()  # (push time, events) of steps awaiting output

    def close(self) -> None:
        self.runner.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _name(self, label: int) -> str:
        return self.classes[label] if label < len(self.classes) else str(label)

    def _outputs(self, outputs):
        for out in outputs:
            pushed_at, events = self._pushed_at.popleft()
            scores = out.reshape(-1).astype(np.int64)
            self._window_sum = scores if self._window_sum is None else self._window_sum + scores
            self._window_events += events
            self._out_step += 1
            if self._out_step % self.window == 0:
                yield self._decide(self.window, pushed_at)

    def _decide(self, steps, pushed_at):
        w = (self._out_step - 1) // self.window
        start = self.binner.t0 + w * self.window * self.binner.bin_us
        label = int(np.argmax(self._window_sum))
        latency = None
        if pushed_at is not None:
            self.decision_latency.add(time.perf_counter() - pushed_at)
            latency = self.decision_latency.recent[-1] * 1e3
        decision = Decision(window=w, start_us=start, end_us=start + steps * self.binner.bin_us, label=label,
                            name=self._name(label), scores=self._window_sum.tolist(), events=self._window_events,
                            steps=steps, latency_ms=latency)
        self._window_sum, self._window_events = None, 0
        self.decisions += 1
        return decision

    def _push(self, frame, events):
        self._pushed_at.append((time.perf_counter(), events))
        outputs = self.runner.step(frame)
        self.step_time.add(self.runner.step_seconds)
        return outputs

    def run(self, chunks):
        """Yield a Decision per window as the stream goes; a final partial
        window gets one too."""
        self._started = time.perf_counter()
        with self.runner:
            for chunk in chunks:
                for frame, events in self.binner.push(chunk):
                    yield from self._outputs(self._push(frame, events))
            for frame, events in self.binner.flush():
                yield from self._outputs(self._push(frame, events))
            if self.runner.pushed:
                yield from self._outputs(self.runner.drain())
            if self._window_sum is not None:
                yield self._decide(self._out_step % self.window, None)
        self._finished = time.perf_counter()

    def report(self) -> dict:
        now = time.perf_counter()
        wall = (self._finished or now) - (self._started or now)
        steps = self.runner.pushed
        return {"backend": self.runner.backend.name, "steps": steps, "events": self.binner.events,
                "late_events": self.binner.late, "decisions": self.decisions, "window_steps": self.window,
                "bin_us": self.binner.bin_us, "reset_interval": self.runner.graph.reset_interval,
                "pipeline_latency_steps": self.runner.latency, "wall_seconds": wall,
                "compile_seconds": self.runner.compile_seconds,
                "steps_per_second": steps / max(1e-9, wall - self.runner.compile_seconds),
                "events_per_second": self.binner.events / max(1e-9, wall - self.runner.compile_seconds),
                "stream_seconds": steps * self.binner.bin_us * 1e-6,
                "step_ms": self.step_time.summary(), "decision_latency_ms": self.decision_latency.summary()}
