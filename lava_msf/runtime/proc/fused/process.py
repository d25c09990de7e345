from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess


class FusedNetwork(AbstractProcess):
    """A whole lava_msf Network as one process: each Lava step runs every
    layer for one model step (lava_msf.reference's integer semantics, so it
    is bit-exact with the per-layer graph) and sends the output layer's
    value in the same step (no per-hop delay). Neuron state resets at Lava
    steps t with (t - 1) % reset_interval == 0."""

    def __init__(self, *, net, reset_interval: int, name: str | None = None):
        c, h, w = net.layers[0].shape
        oc, oh, ow = net.output.shape
        super().__init__(name=name, net=net, reset_interval=int(reset_interval))
        self.s_in = InPort(shape=(w, h, c))
        self.a_out = OutPort(shape=(ow, oh, oc))
