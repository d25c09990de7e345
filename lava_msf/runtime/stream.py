"""A network running continuously on Lava, fed one frame per step by the host.

The runtime is created once and runs in segments of `segment` steps (Lava
needs a step count to end a run gracefully); within a segment the host pushes
each frame into the StreamSource pipe and reads the sink's output for that
step, lock-step, so the measured time per step is the network's own. Outputs
for model step k arrive `latency` steps later; `step()` returns them in
order, and `drain()` pushes empty frames to flush the pipeline.

Fused, one Lava step may carry a window of `window` model steps (one pipe
message each way): Lava's per-step synchronisation and the pipe round trip
are paid once per window, the outputs are those of `window` single steps."""

import time

import numpy as np

from ..errors import ShapeError
from ..graph import Network, flip_layout
from .backends import Backend
from .builder import StreamGraph, build_stream
from .runner import LavaSession

DEFAULT_SEGMENT = 32


class StreamRunner(LavaSession):
    """`step(frames)` runs one Lava step on a frame (C, H, W) (window 1) or
    on `window` frames (window, C, H, W), and returns the output layer's
    values (C, H, W) that became available, in model-step order (one per
    model step once the pipeline is full). Neuron state resets every
    `reset_interval` model steps (None: never). `segment`: Lava steps per run."""

    def __init__(self, net: Network, backend: str | Backend = "lava-cpu", reset_interval: int | None = None,
                 segment: int = DEFAULT_SEGMENT, window: int = 1):
        super().__init__(backend)
        if segment < 1:
            raise ShapeError(f"segment must be at least 1 step, got {segment}")
        if window < 1:
            raise ShapeError(f"window must be at least 1 step, got {window}")
        self.net = net
        self.segment = int(segment)
        self.window = int(window)
        self.graph: StreamGraph = build_stream(net, self.backend, reset_interval, self.window)
        self._root = self.graph.source
        self._in_segment = 0  # steps pushed in the current run
        self.pushed = 0  # model steps pushed
        self.step_seconds = 0.0  # last Lava step's wall time
        self._drained = False

    @property
    def latency(self) -> int:
        return self.graph.latency

    @property
    def frames_shape(self) -> tuple:
        """What step() takes: (C, H, W), or (window, C, H, W)."""
        return (*(() if self.window == 1 else (self.window,)), *self.net.layers[0].shape)

    def open(self) -> None:
        """Start the runtime now (compiling takes seconds), not on the first step."""
        with self._guarded():
            if not self._runtime_live:
                self._start()

    def step(self, frames) -> list:
        frames = np.asarray(frames)
        if frames.shape != self.frames_shape:
            raise ShapeError(f"stream frames must be {self.frames_shape} ({'' if self.window == 1 else 'window, '}"
                             f"C, H, W), got {frames.shape}")
        if self._drained:
            raise ShapeError("this stream was drained: it has ended")
        with self._guarded():
            if not self._runtime_live:
                self._start()
            if self._in_segment == 0:
                self._begin_run(self.segment)
            source, sink = self.graph.source.input_pipe(), self.graph.sink.output_pipe()
            t0 = time.perf_counter()
            self._wait_for(source.probe)
            source.send(flip_layout(frames, -3).astype(self._dtype))
            self._wait_for(sink.probe)
            out = flip_layout(sink.recv(), -3)
            self.step_seconds = time.perf_counter() - t0
            self._in_segment += 1
            if self._in_segment == self.segment:
                self._end_run(self.segment)
                self._in_segment = 0
        outs = [out] if self.window == 1 else list(out)
        # the first `latency` outputs precede the stream's first step (fused: none)
        skip = max(0, self.latency - self.pushed)
        self.pushed += len(outs)
        return outs[skip:]

    def drain(self) -> list:
        """End the stream: push empty frames until every pushed step's output
        is out and the current segment is complete (so the runtime can stop
        gracefully); returns the remaining outputs."""
        outputs, zeros = [], np.zeros(self.frames_shape, dtype=self._dtype)
        owed, real = min(self.latency, self.pushed), self.pushed
        while len(outputs) < owed or self._in_segment:
            outputs += self.step(zeros)
        self.pushed = real
        self._drained = True
        return outputs[:owed]
