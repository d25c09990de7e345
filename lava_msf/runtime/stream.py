"""A network running continuously on Lava, fed one frame per step by the host.

The runtime is created once and runs in segments of `segment` steps (Lava
needs a step count to end a run gracefully); within a segment the host pushes
each frame into the StreamSource pipe and reads the sink's output for that
step, lock-step, so the measured time per step is the network's own. Outputs
for model step k arrive `latency` steps later; `step()` returns them in
order, and `drain()` pushes empty frames to flush the pipeline."""

import time

import numpy as np

from ..errors import ShapeError
from ..graph import Network, flip_layout
from .backends import Backend
from .builder import StreamGraph, build_stream
from .runner import LavaSession

DEFAULT_SEGMENT = 32


class StreamRunner(LavaSession):
    """`step(frame)` runs one Lava step on frame (C, H, W) and returns the
    output layer's values (C, H, W) that became available (one per step once
    the pipeline is full). Neuron state resets every `reset_interval` steps
    (None: never)."""

    def __init__(self, net: Network, backend: str | Backend = "lava-cpu", reset_interval: int | None = None,
                 segment: int = DEFAULT_SEGMENT):
        super().__init__(backend)
        if segment < 1:
            raise ShapeError(f"segment must be at least 1 step, got {segment}")
        self.net = net
        self.segment = int(segment)
        self.graph: StreamGraph = build_stream(net, self.backend, reset_interval)
        self._root = self.graph.source
        self._in_segment = 0  # steps pushed in the current run
        self.pushed = 0  # model steps pushed
        self.step_seconds = 0.0  # last step's wall time
        self._drained = False

    @property
    def latency(self) -> int:
        return self.graph.latency

    def step(self, frame) -> list:
        frame = np.asarray(frame)
        if frame.shape != tuple(self.net.layers[0].shape):
            raise ShapeError(f"stream frame must be {tuple(self.net.layers[0].shape)} (C, H, W), got {frame.shape}")
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
            source.send(flip_layout(frame).astype(self._dtype))
            self._wait_for(sink.probe)
            out = flip_layout(sink.recv())
            self.step_seconds = time.perf_counter() - t0
            self._in_segment += 1
            if self._in_segment == self.segment:
                self._end_run(self.segment)
                self._in_segment = 0
        self.pushed += 1
        # the first `latency` outputs precede the stream's first step
        return [out] if self.pushed > self.latency else []

    def drain(self) -> list:
        """End the stream: push empty frames until every pushed step's output
        is out and the current segment is complete (so the runtime can stop
        gracefully); returns the remaining outputs."""
        outputs, zeros = [], np.zeros(self.net.layers[0].shape, dtype=self._dtype)
        owed, real = min(self.latency, self.pushed), self.pushed
        while len(outputs) < owed or self._in_segment:
            outputs += self.step(zeros)
        self.pushed = real
        self._drained = True
        return outputs[:owed]
