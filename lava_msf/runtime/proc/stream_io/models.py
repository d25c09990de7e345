import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from lava_msf.runtime.kernels import input_frame
from lava_msf.runtime.proc.stream_io.process import StreamSink, StreamSource


class _SourceModel(PyLoihiProcessModel):
    def run_spk(self):
        frame = self.frame_in.recv()  # waits for the host: the stream paces the network
        self.s_out.send(input_frame(frame, self.proc_params["graded"]).reshape(self.s_out.shape))


@implements(proc=StreamSource, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyStreamSourceModelFixed(_SourceModel):
    frame_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)


@implements(proc=StreamSource, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyStreamSourceModelFloat(_SourceModel):
    frame_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)


class _SinkModel(PyLoihiProcessModel):
    def run_spk(self):
        self.out.send(self.a_in.recv().reshape(self.out.shape))


@implements(proc=StreamSink, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyStreamSinkModelFixed(_SinkModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)


@implements(proc=StreamSink, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyStreamSinkModelFloat(_SinkModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
