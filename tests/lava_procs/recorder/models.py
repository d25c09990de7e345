import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from lava_procs.recorder.process import Recorder


class _RecorderModel(PyLoihiProcessModel):
    def run_spk(self):
        self.record[(self.time_step - 1) % self.record.shape[0]] = self.a_in.recv()


@implements(proc=Recorder, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyRecorderModelFixed(_RecorderModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    record: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)


@implements(proc=Recorder, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyRecorderModelFloat(_RecorderModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    record: np.ndarray = LavaPyType(np.ndarray, float)
