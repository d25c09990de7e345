from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess


class StatefulLayer(AbstractProcess):
    """One layer of a lava_msf graph whose type keeps state of its own (delayed
    synapses, recurrence: lava_msf.layers.base.LayerType.initial_state), run by
    the reference executor's step for that layer: bit-exact with it by
    construction. One step of delay, as every synapse hop (sends the previous
    step's output); the layer's state and neuron reset when time_step %
    reset_interval == reset_offset, before the sample's first input. Ports
    carry `batch` samples first: (batch, W, H, C)."""

    def __init__(self, *, net, index: int, reset_interval: int, reset_offset: int, batch: int = 1,
                 name: str | None = None):
        super().__init__(name=name, net=net, index=int(index), reset_interval=int(reset_interval),
                         reset_offset=int(reset_offset), batch=int(batch))
        layer = net.layers[index]
        self.s_in = InPort(shape=(int(batch), *net.layers[layer.inputs[0]].lava_shape))
        self.a_out = OutPort(shape=(int(batch), *layer.lava_shape))


def build_stateful(b, i: int, layer, ports):
    """Layer i as a StatefulLayer through builder `b` (lava_msf.runtime.builder.Build)."""
    from lava_msf.runtime.builder import BuildError

    if b.backend.select_tag != "fixed_pt":
        raise BuildError(f"layer {i} ({layer.name}): a {layer.type} layer with state of its own runs on the "
                         f"fixed-point backends only")
    # its input for a sample's first step arrives at Lava step lat[i] (one hop before its output)
    proc = b.add(StatefulLayer(net=b.net, index=i, reset_interval=b.reset_interval, reset_offset=b.lat[i],
                               batch=b.batch, name=f"{i}:{layer.name}"))
    ports[0].connect(proc.s_in)
    return proc.a_out
