import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from lava_msf.runtime.kernels import conv_fixed, conv_float, correlation_kernel
from lava_msf.runtime.proc.conv.process import Conv


class _ConvModel(PyLoihiProcessModel):
    kernel = None  # conv_fixed or conv_float

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.params = {k: proc_params[k] for k in ("stride", "padding", "groups", "weight_exp")}
        self.graded = proc_params["num_message_bits"] > 0
        self.w_oihw = None  # the kernel in correlation layout, made once

    def run_spk(self):
        self.a_out.send(self.a_buf)
        s = self.s_in.recv()
        if not self.graded:
            s = s.astype(bool)
        if self.w_oihw is None:
            self.w_oihw = correlation_kernel(self.weight)
        self.a_buf = type(self).kernel(s, self.w_oihw, bias=self.bias, **self.params).astype(self.a_buf.dtype)


@implements(proc=Conv, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyConvModelFixed(_ConvModel):
    """Integer model, bit-exact with the reference executor (and with Lava's
    stock fixed-point Conv for weight_exp 0 and no bias): vectorised im2col."""

    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    a_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    a_buf: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    weight: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=8)
    bias: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    kernel = staticmethod(conv_fixed)


@implements(proc=Conv, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyConvModelFloat(_ConvModel):
    """Real-valued model: the same sum without rounding or saturation."""

    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    a_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    a_buf: np.ndarray = LavaPyType(np.ndarray, float)
    weight: np.ndarray = LavaPyType(np.ndarray, float)
    bias: np.ndarray = LavaPyType(np.ndarray, float)
    kernel = staticmethod(conv_float)
