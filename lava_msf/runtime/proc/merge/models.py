import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from lava_msf import fixedpoint as fx
from lava_msf.runtime.kernels import DelayLine
from lava_msf.runtime.proc.merge.process import PORTS, Merge


class _MergeModel(PyLoihiProcessModel):
    dtype = None

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.delays = proc_params["delays"]
        self.lines = None

    def run_spk(self):
        ports = [getattr(self, f"a_in{i}") for i in range(PORTS)]
        if self.lines is None:
            self.lines = [DelayLine(d, ports[i].shape, self.dtype) for i, d in enumerate(self.delays)]
        total = np.zeros(self.a_out.shape, self.dtype)
        for port, line in zip(ports, self.lines):
            total += line.push(port.recv().astype(self.dtype))
        self.a_out.send(self.limit(total))

    def limit(self, total):
        return total


def _with_inputs(kind):
    """Declare the model's PORTS input ports of element type `kind`."""
    def declare(cls):
        for i in range(PORTS):
            setattr(cls, f"a_in{i}", LavaPyType(PyInPort.VEC_DENSE, kind, precision=24))
        return cls
    return declare


@implements(proc=Merge, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
@_with_inputs(np.int32)
class PyMergeModelFixed(_MergeModel):
    """Integer sum (exact in int64), saturated to 24 bits as the reference's merge."""

    a_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    dtype = np.int64

    def limit(self, total):
        return fx.saturate_synapse(total)


@implements(proc=Merge, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
@_with_inputs(float)
class PyMergeModelFloat(_MergeModel):
    a_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    dtype = np.float64
