from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.sub.model import AbstractSubProcessModel
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from lava_msf import fixedpoint as fx
from lava_msf.chip.mapping import sdsa_decomposition
from lava_msf.runtime.proc.sdsa.process import SDSA
from lava_msf.runtime.proc.stock import instantiate, lif_reset


@implements(proc=SDSA, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class SubSDSAModel(AbstractSubProcessModel):
    """SDSA from Lava's stock chip-supported processes (Sparse, DelaySparse,
    LIF, LIFReset, GradedVec, ProdNeuron) as lava_msf.chip.mapping lays it out;
    bit-exact with the direct fixed-point model, `latency` steps later. One
    sample (batch 1, the builder checks): the decomposition is per sample."""

    def __init__(self, proc):
        p = proc.proc_params
        dec = sdsa_decomposition(proc.s_out.shape[1:], p["variant"], p["heads"], p["scale"], p["delays"])
        neuron = fx.LifParams(p["vth_mant"], p["i_decay"], p["v_decay"])
        # the attention neuron sits depth('attention') steps after the inputs, and resets that much later
        offset = p["reset_offset"] + dec.depth("attention")

        def attention(shape):
            return lif_reset(shape, neuron, None, p["reset_interval"], offset, fixed=True)

        instantiate(self, proc, dec, proc.s_out, attention)
