"""neuron: a deployable SN (lava_msf.neurons) on one current of its own shape
(+ bias, into the voltage) -> spikes. On Lava: the model's stock process."""

from .base import LayerType, need


class Neuron(LayerType):
    name = "neuron"
    keys = frozenset({"neuron", "bias"})
    neuron = "required"

    def check(self, net, layer, src, at):
        need(tuple(src[0].shape) == tuple(layer.shape) and not src[0].spiking, at,
             "reads one current of its own shape")

    def reference(self, net, i, be):
        return lambda x: x[0]

    def lava(self, b, i, layer, ports):
        lif = b.add(b.lif(i, f"{i}:{layer.name}"))
        ports[0].connect(lif.a_in)
        return lif.s_out

    def to_nir(self, x, i, layer):
        source, shape = x.source(i)
        x.neuron(i, layer.name, [source], shape)

    def resources(self, r, i, layer, row):
        return r.src_bounds(layer)[0]


TYPE = Neuron()
