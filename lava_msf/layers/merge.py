"""merge: the membrane shortcut, a sum of currents of its own shape (each
source once), saturated to the 24-bit range as a synapse's accumulator is: a
chain of merges (the shortcut runs through every block of a stage) stays in
what Lava's int32 ports and neurons compute exactly. On Lava the project's
Merge process delays the earlier branches so that all meet; decomposed:
graded neurons and delayed synapses (lava_msf.chip.mapping.merge_decomposition),
which cannot saturate, so that backend refuses a merge whose sum may leave the
range."""

from .. import fixedpoint as fx
from ..chip.mapping import merge_decomposition
from .base import LayerType, need

MAX_INPUTS = 64


class Merge(LayerType):
    name = "merge"
    arity = (2, MAX_INPUTS)

    def check(self, net, layer, src, at):
        for s in src:
            need(tuple(s.shape) == tuple(layer.shape) and not s.spiking, at,
                 f"merges currents of shape {layer.shape}; input {s.name} is "
                 f"{'spikes' if s.spiking else 'current'} {s.shape}")
        # Lava refuses two connections of one port into another; sum the layer in its weights instead
        need(len(set(layer.inputs)) == len(layer.inputs), at, f"reads a layer more than once: {list(layer.inputs)}")

    def latency(self, layer, decomposed):
        return merge_decomposition(layer.shape, (0,)).latency if decomposed else 0

    def reference(self, net, i, be):
        def total(x):
            a = x[0]
            for other in x[1:]:
                a = a + other
            return fx.saturate_synapse(a)
        return total

    def lava(self, b, i, layer, ports):
        from ..runtime.builder import BuildError
        from ..runtime.proc.merge.process import PORTS, Merge as MergeProcess

        if b.backend.decomposed and b.current_bounds[i] > fx.SYNAPSE_MAX:
            raise BuildError(f"layer {i} ({layer.name}): its sum may reach {b.current_bounds[i]}, past the 24-bit "
                             f"range, and the decomposed merge (stock graded neurons) cannot saturate it as the "
                             f"other backends do; use --backend lava-cpu")
        delays = b.net.input_delays(i, b.lat)
        classes = sorted(set(delays))
        if len(classes) > PORTS:
            raise BuildError(f"layer {i} ({layer.name}): inputs arrive with {len(classes)} different latencies; "
                             f"the Merge process aligns at most {PORTS}")
        merge = b.add(MergeProcess(shape=b.shape(i), delays=tuple(classes), name=f"{i}:{layer.name}"))
        for d, port in zip(delays, ports):
            port.connect(getattr(merge, f"a_in{classes.index(d)}"))
        return merge.a_out

    def to_nir(self, x, i, layer):  # several edges into one node are summed: a Scale of ones keeps the name
        import nir
        import numpy as np

        ports = [x.ports[j] for j in layer.inputs]
        if len({shape for _, shape in ports}) > 1:
            raise x.error(i, f"its inputs have different NIR shapes {[shape for _, shape in ports]}")
        x.add(i, layer.name, nir.Scale(scale=np.ones(ports[0][1])), [name for name, _ in ports], ports[0][1],
              type=self.name)

    def resources(self, r, i, layer, row):
        dec = merge_decomposition(layer.lava_shape, sorted(set(r.net.input_delays(i, r.lat))))
        row.update(dec.counts(layer.size))
        return sum(r.src_bounds(layer))  # before saturation: inspect flags the risk


TYPE = Merge()
