"""Streaming inference: events -> per-step frames -> a network running
continuously on Lava -> a decision per window.

Any iterator of event chunks drives it (a file read in chunks, a camera
driver, a socket). A chunk is an event array, or (events, now_us): now_us
promises that no later chunk has events before it, so bins up to it close
even when the scene is quiet. Memory stays bounded on an endless stream: the
pipeline keeps one open bin, one window's readout and fixed-size statistics."""

import collections
import math
import time
from dataclasses import dataclass

import numpy as np

from .errors import ConfigError
from .events.binning import DEFAULT_MAX_SILENCE_US, EventBinner
from .events.core import check_int
from .graph import Network
from .runtime.backends import Backend, get_backend
from .runtime.builder import NEVER
from .runtime.stream import StreamRunner
from .tasks import decides_on_last
from .tasks.evaluate import CLASSIFY, class_name, prediction_summary, task_of, window_prediction

STAT_WINDOW = 4096  # step times kept for percentiles
LATENCY_BUDGET_US = 20_000  # decision latency the default chunk aims at (issue 21: p99 <= 20 ms)
MAX_CHUNK_STEPS = 64  # model steps per Lava step at most (a pipe message of that many frames)
DEFAULT_MAX_CHUNK = 10  # beyond it Lava's per-step cost is already a small part


def default_chunk_steps(backend: Backend, bin_us: int) -> int:
    """Model steps per Lava step by default: 1 off the fused backends (their
    graph steps one model step per Lava step), else as many as keep the wait
    for a chunk's last bin within half the latency budget (at most
    DEFAULT_MAX_CHUNK), so 1 at the models' own 25 ms bins, 10 at 1 ms."""
    return max(1, min(DEFAULT_MAX_CHUNK, LATENCY_BUDGET_US // 2 // bin_us)) if backend.fused else 1


@dataclass
class Decision:
    window: int
    start_us: int
    end_us: int
    label: int
    name: str
    scores: list  # readout summed over the decision's steps: the window's (its last for a 'last' readout)
    events: int
    steps: int  # model steps in the window (< window for a partial last one)
    latency_ms: float | None  # from binning the window's last frame to its output (None: partial window)
    skipped_us: int = 0  # silence skipped just before this window (EventBinner's policy)
    prediction: dict | None = None  # a detection or segmentation network's (tasks.evaluate.prediction_summary)
    frames: np.ndarray | None = None  # with keep_frames: the window's input frames summed over its steps (C, H, W)


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
    (never).

    Silences longer than max_silence_us (None: never) are skipped in whole
    reset periods (lcm(window, reset) steps; a window with reset=None), so
    that with a reset the decisions are those of the full stream without the
    windows of the skipped silence; with reset=None the network's state
    carries over the cut, as if the silence had been shorter. A decision
    after a skip says how long it was (skipped_us), as does report().

    chunk_steps: model steps that go to Lava together, in one message and one
    Lava step (fused backends; default_chunk_steps() by default). Decisions are
    those of single steps, bit for bit; a frame waits for the chunk's last bin
    (at most chunk_steps - 1 bins), so the default keeps that wait within half
    of LATENCY_BUDGET_US.

    A detection or segmentation network's decision also has its prediction:
    the window's boxes, or its mask's pixels per class (label -1, name a count);
    keep_frames: each decision keeps its window's input frames (for pictures)."""

    def __init__(self, net: Network, sensor_size, bin_us: int | None = None, window: int | None = None,
                 reset="window", backend: str = "lava-cpu", t0: int | None = None, segment: int | None = None,
                 max_silence_us: int | None = DEFAULT_MAX_SILENCE_US, chunk_steps: int | None = None,
                 keep_frames: bool = False):
        data = net.meta.get("data", {})
        if not isinstance(data, dict):
            raise ConfigError(f"the network file's meta 'data' must be a mapping, got {type(data).__name__}")
        if bin_us is None:
            if data.get("bin_us") is None:
                raise ConfigError("the network file does not say its event bin length: give --bin-us")
            bin_us = check_int(data["bin_us"], "the network file's meta data.bin_us", 1)
        self.window = check_int(window if window is not None else net.timesteps, "--window", 1, NEVER)
        interval = self.window if reset == "window" else reset
        if interval is not None:
            interval = check_int(interval, "--reset", 1, NEVER)
        classes = data.get("classes", [])
        if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
            raise ConfigError("the network file's meta data.classes must be a list of names")
        self.classes = classes
        self.net = net
        self.task = task_of(net.meta)
        self._decide_on_last = decides_on_last(net.meta.get("config", {}))
        self.keep_frames = keep_frames
        backend = get_backend(backend) if isinstance(backend, str) else backend
        if chunk_steps is None:
            chunk_steps = default_chunk_steps(backend, bin_us)
        self.chunk_steps = check_int(chunk_steps, "--chunk-steps", 1, MAX_CHUNK_STEPS)
        # a silence stops the binner at a period's end: a whole chunk, none left waiting for the next event
        period = math.lcm(self.window if interval is None else math.lcm(self.window, interval), self.chunk_steps)
        self.binner = EventBinner(sensor_size, net.layers[0].shape, bin_us, t0, period, max_silence_us)
        kw = {} if segment is None else {"segment": segment}
        self.runner = StreamRunner(net, backend, interval, window=self.chunk_steps, **kw)
        self._chunk = np.zeros((self.chunk_steps, *net.layers[0].shape), dtype=np.int32)  # frames awaiting Lava
        self._filled = 0
        self.steps = 0  # model steps of the stream (without a last chunk's padding)
        self.step_time, self.decision_latency = _Stats(), _Stats()
        self.decisions = 0
        self._started = self._finished = None
        self._window_sum = self._last_scores = None
        self._window_events = 0
        self._window_frames = None
        self._window_bin = self._window_skipped = 0  # the current window's first bin; bins skipped before it
        self._next_bin = 0  # the bin that follows the last output's without a skip
        self._out_step = 0  # model step of the next output
        self._pushed_at = collections.deque()  # (push time, events, bin, frame if kept) of steps awaiting output

    def close(self) -> None:
        self.runner.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _outputs(self, outputs):
        for out in outputs:
            pushed_at, events, b, frame = self._pushed_at.popleft()
            scores = out.reshape(-1).astype(np.int64)
            if self._window_sum is None:
                self._window_bin, self._window_skipped = b, b - self._next_bin
                self._window_frames = None if frame is None else np.zeros(frame.shape, np.int64)
            if frame is not None:
                self._window_frames += frame
            self._next_bin = b + 1
            self._window_sum = scores if self._window_sum is None else self._window_sum + scores
            self._last_scores = scores
            self._window_events += events
            self._out_step += 1
            if self._out_step % self.window == 0:
                yield self._decide(self.window, pushed_at)

    def _decide(self, steps, pushed_at):
        # skips are whole windows: a window's first bin is a multiple of the window
        w = self._window_bin // self.window
        start = self.binner.t0 + self._window_bin * self.binner.bin_us
        summed = self._last_scores if self._decide_on_last else self._window_sum
        label, name, prediction = int(np.argmax(summed)), None, None
        if self.task != CLASSIFY:
            found = window_prediction(self.net.meta, summed.reshape(self.net.output.shape), steps,
                                      self.net.layers[0].shape[1:])
            prediction = prediction_summary(self.task, found, self.classes)
            label, name = -1, (f"{len(found[0])} boxes" if self.task == "detect" else
                               f"{len(prediction['pixels']) - ('background' in prediction['pixels'])} classes")
        latency = None
        if pushed_at is not None:
            self.decision_latency.add(time.perf_counter() - pushed_at)
            latency = self.decision_latency.recent[-1] * 1e3
        decision = Decision(window=w, start_us=start, end_us=start + steps * self.binner.bin_us, label=label,
                            name=name or class_name(self.classes, label), scores=summed.tolist(),
                            events=self._window_events, steps=steps, latency_ms=latency,
                            skipped_us=self._window_skipped * self.binner.bin_us, prediction=prediction,
                            frames=self._window_frames)
        self._window_sum, self._window_events, self._window_frames = None, 0, None
        self.decisions += 1
        return decision

    def _push(self, b, frame, events):
        """Queue a binned frame; a full chunk goes to Lava. Returns its outputs."""
        self._pushed_at.append((time.perf_counter(), events, b, frame.copy() if self.keep_frames else None))
        self._chunk[self._filled] = frame
        self._filled += 1
        self.steps += 1
        return self._send() if self._filled == self.chunk_steps else []

    def _send(self):
        """Run the queued frames (a last partial chunk padded with empty ones,
        whose outputs are dropped: nothing follows them)."""
        real, self._filled = self._filled, 0
        self._chunk[real:] = 0
        outputs = self.runner.step(self._chunk if self.chunk_steps > 1 else self._chunk[0])
        for _ in range(real):
            self.step_time.add(self.runner.step_seconds / self.chunk_steps)
        return outputs[:len(self._pushed_at)]

    def run(self, chunks):
        """Yield a Decision per window as the stream goes; a final partial
        window gets one too."""
        self._started = time.perf_counter()
        with self.runner:
            self.runner.open()  # the compile stays out of the first decision's latency
            for chunk in chunks:
                for b in self.binner.push(chunk):
                    yield from self._outputs(self._push(*b))
            for b in self.binner.flush():
                yield from self._outputs(self._push(*b))
            if self._filled:
                yield from self._outputs(self._send())
            if self.runner.pushed:
                yield from self._outputs(self.runner.drain())
            if self._window_sum is not None:
                yield self._decide(self._out_step % self.window, None)
        self._finished = time.perf_counter()

    def report(self) -> dict:
        now = time.perf_counter()
        wall = (self._finished or now) - (self._started or now)
        steps = self.steps
        return {"backend": self.runner.backend.name, "steps": steps, "events": self.binner.events,
                "late_events": self.binner.late, "decisions": self.decisions, "window_steps": self.window,
                "chunk_steps": self.chunk_steps,
                "bin_us": self.binner.bin_us, "reset_interval": self.runner.graph.reset_interval,
                "max_silence_us": self.binner.max_silence_us, "silences_skipped": self.binner.skips,
                "skipped_us": self.binner.skipped_bins * self.binner.bin_us,
                "pipeline_latency_steps": self.runner.latency, "wall_seconds": wall,
                "compile_seconds": self.runner.compile_seconds,
                "steps_per_second": steps / max(1e-9, wall - self.runner.compile_seconds),
                "events_per_second": self.binner.events / max(1e-9, wall - self.runner.compile_seconds),
                "stream_seconds": steps * self.binner.bin_us * 1e-6,
                "step_ms": self.step_time.summary(), "decision_latency_ms": self.decision_latency.summary()}
