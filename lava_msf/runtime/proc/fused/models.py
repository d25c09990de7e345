import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from lava_msf.reference import Executor
from lava_msf.runtime.kernels import input_frame, to_chw, to_whc
from lava_msf.runtime.proc.fused.process import FusedNetwork


@implements(proc=FusedNetwork, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyFusedNetworkModelFixed(PyLoihiProcessModel):
    frame_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    probe: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.executor = Executor(proc_params["net"])
        layers = proc_params["net"].layers
        self.probed = [layers[i].name for i in proc_params["probes"]]
        self.batch = proc_params["batch"] or 1
        self.frame_shape = (self.batch, *layers[0].lava_shape)

    def run_spk(self):
        if (self.time_step - 1) % self.proc_params["reset_interval"] == 0:
            self.executor.reset(self.batch)
        frame = self.frame_in.recv().astype(np.int64)  # waits for the host: the stream paces the network
        frame = input_frame(frame, self.proc_params["graded"]).reshape(self.frame_shape)
        values = {} if self.probed else None
        self.out.send(to_whc(self.executor.step(to_chw(frame), values)).reshape(self.out.shape))
        if self.probed:
            self.probe.send(np.concatenate([to_whc(values[name][0]).reshape(self.batch, -1) for name in self.probed],
                                           axis=1).reshape(self.probe.shape))
