import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from lava_msf.reference import Executor
from lava_msf.runtime.kernels import ResetSchedule, to_chw, to_whc
from lava_msf.runtime.proc.stateful.process import StatefulLayer


@implements(proc=StatefulLayer, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyStatefulLayerModel(PyLoihiProcessModel):
    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    a_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.index = proc_params["index"]
        self.executor = Executor(proc_params["net"], layers=(self.index,))
        self.batch = proc_params["batch"]
        self.executor.reset(self.batch)
        self.reset = ResetSchedule(proc_params["reset_interval"], proc_params["reset_offset"])
        self.out = np.zeros((self.batch, *proc_params["net"].layers[self.index].lava_shape), dtype=np.int64)

    def run_spk(self):
        self.a_out.send(self.out)
        x = to_chw(self.s_in.recv().astype(np.int64))
        if self.reset.due(self.time_step):
            self.executor.reset(self.batch)
        self.out = to_whc(self.executor.layer_step(self.index, [x]))
