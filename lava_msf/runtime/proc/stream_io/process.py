from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess


def pipe_shape(shape: tuple, batched: bool) -> tuple:
    """What the host's pipe carries for a port of `shape` (batch, ...): the same,
    or without the batch axis of one sample (streaming, batch 1)."""
    if not batched and shape[0] != 1:
        raise ValueError(f"an unbatched pipe carries one sample, not {shape[0]}")
    return tuple(shape) if batched else tuple(shape[1:])


class StreamSource(AbstractProcess):
    """Feeds frames the host pushes while the runtime runs: each Lava step
    takes the next frames (B, W, H, C) from a pipe, waiting for them, and sends
    them on (spikes: nonzero -> 1, unless graded). The host writes to
    `input_pipe()`; unless `batched`, one frame (W, H, C) per step (B = 1)."""

    def __init__(self, *, shape: tuple, graded: bool = False, buffer_size: int = 64, batched: bool = True,
                 name: str | None = None):
        super().__init__(name=name, graded=bool(graded))
        self.frame_in = InPort(shape=pipe_shape(shape, batched))
        self.frame_in.flag_external_pipe(buffer_size=int(buffer_size))
        self.s_out = OutPort(shape=tuple(shape))

    def input_pipe(self):
        """The host end of the frame pipe (exists once the runtime is created)."""
        return self.frame_in.external_pipe_csp_send_port


class StreamSink(AbstractProcess):
    """Passes what arrives on `a_in` (B, W, H, C) each Lava step to the host
    through a pipe (`output_pipe()`): the network's readout, step by step;
    unless `batched`, one sample's (W, H, C) (B = 1)."""

    def __init__(self, *, shape: tuple, buffer_size: int = 64, batched: bool = True, name: str | None = None):
        super().__init__(name=name)
        self.a_in = InPort(shape=tuple(shape))
        self.out = OutPort(shape=pipe_shape(shape, batched))
        self.out.flag_external_pipe(buffer_size=int(buffer_size))

    def output_pipe(self):
        """The host end of the output pipe (exists once the runtime is created)."""
        return self.out.external_pipe_csp_recv_port


__all__ = ["StreamSource", "StreamSink"]
