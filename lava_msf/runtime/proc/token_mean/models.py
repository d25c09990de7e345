import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from lava_msf.runtime.proc.token_mean.process import TokenMean


@implements(proc=TokenMean, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyTokenMeanModelFixed(PyLoihiProcessModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    a_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)

    def run_spk(self):
        total = self.a_in.recv().astype(np.int64).sum(axis=(1, 2), keepdims=True)
        self.a_out.send((total * self.proc_params["scale_mant"]) >> self.proc_params["scale_shift"])


@implements(proc=TokenMean, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyTokenMeanModelFloat(PyLoihiProcessModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    a_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)

    def run_spk(self):
        total = self.a_in.recv().sum(axis=(1, 2), keepdims=True)
        self.a_out.send(total * self.proc_params["scale_mant"] / 2.0 ** self.proc_params["scale_shift"])
