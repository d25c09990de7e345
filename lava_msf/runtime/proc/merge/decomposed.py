from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.sub.model import AbstractSubProcessModel
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from lava_msf.chip.mapping import merge_decomposition
from lava_msf.runtime.proc.merge.process import Merge
from lava_msf.runtime.proc.stock import instantiate


@implements(proc=Merge, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class SubMergeModel(AbstractSubProcessModel):
    """The membrane-shortcut merge from Lava's GradedVec, DelaySparse and Sparse
    as lava_msf.chip.mapping lays it out; bit-exact with the direct model, one
    step later. One sample (batch 1, the builder checks)."""

    def __init__(self, proc):
        instantiate(self, proc, merge_decomposition(proc.a_out.shape[1:], proc.proc_params["delays"]), proc.a_out)
