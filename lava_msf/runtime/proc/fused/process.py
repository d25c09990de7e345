from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess

from lava_msf.errors import ConfigError


class FusedNetwork(AbstractProcess):
    """A whole lava_msf Network as one process between the host's pipes: each
    Lava step takes the frame (W, H, C) the host pushed into `input_pipe()`
    (spikes: nonzero -> 1, unless graded), runs every layer for one model step
    (lava_msf.reference's integer semantics, so it is bit-exact with the
    per-layer graph) and pipes the output layer's value to `output_pipe()` in
    the same step (no per-hop delay). Neuron state resets at Lava steps t with
    (t - 1) % reset_interval == 0. The values of the layers `probes` (indices)
    go, flattened in Lava layout and concatenated, to `probe_pipe()`. With
    `batch` B the pipes carry B samples per step, (B, W, H, C) and (B, probed
    values); None: one sample, (W, H, C).

    window > 1 (streaming, one sample): each Lava step carries `window` model
    steps, one message of frames (window, W, H, C) in and outputs (window, W,
    H, C) out, so Lava's per-step synchronisation is paid once per window;
    resets fall on model steps k with k % reset_interval == 0, as with window 1."""

    def __init__(self, *, net, reset_interval: int, graded: bool, buffer_size: int, probes=(),
                 batch: int | None = None, window: int = 1, name: str | None = None):
        probes = tuple(int(i) for i in probes)
        window = int(window)
        if window < 1 or (window > 1 and (probes or batch is not None)):
            raise ConfigError(f"a fused window must be >= 1 step, of one sample without probes "
                              f"(got {window}, batch {batch}, probes {probes})")
        super().__init__(name=name, net=net, reset_interval=int(reset_interval), graded=bool(graded), probes=probes,
                         batch=batch, window=window)
        lead = (window,) if window > 1 else () if batch is None else (int(batch),)
        self.frame_in = InPort(shape=(*lead, *net.layers[0].lava_shape))
        self.frame_in.flag_external_pipe(buffer_size=int(buffer_size))
        self.out = OutPort(shape=(*lead, *net.output.lava_shape))
        self.out.flag_external_pipe(buffer_size=int(buffer_size))
        # a model declares its ports statically: the port always exists, piped only when probes are asked for
        self.probe = OutPort(shape=(*lead, max(1, sum(net.layers[i].size for i in probes))))
        if probes:
            self.probe.flag_external_pipe(buffer_size=int(buffer_size))

    def input_pipe(self):
        """The host end of the frame pipe (exists once the runtime is created)."""
        return self.frame_in.external_pipe_csp_send_port

    def output_pipe(self):
        """The host end of the output pipe (exists once the runtime is created)."""
        return self.out.external_pipe_csp_recv_port

    def probe_pipe(self):
        """The host end of the probe pipe (when probes were asked for)."""
        return self.probe.external_pipe_csp_recv_port
