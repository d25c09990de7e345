import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from lava_msf.intconv import Conv2d
from lava_msf.runtime.kernels import (ResetSchedule, conv_fixed, conv_float, correlation_kernel, fixed_neuron_step,
                                      float_neuron_step)
from lava_msf.runtime.proc.conv.process import Conv


class _ConvModel(PyLoihiProcessModel):
    kernel = None  # conv_fixed or conv_float
    neuron_step = None  # fixed_neuron_step or float_neuron_step
    dtype = None  # of the neuron's input

    def __init__(self, proc_params):
        super().__init__(proc_params)
        p = proc_params
        self.geometry = tuple(p[k] for k in ("stride", "padding", "groups"))
        self.weight_exp = p["weight_exp"]
        self.graded = p["num_message_bits"] > 0
        self.neuron = p["neuron"]
        self.reset = ResetSchedule(p["reset_interval"], p["reset_offset"])
        self.conv, self.state = None, None  # conv: made once, from the kernel in correlation layout

    def run_spk(self):
        out = self.a_buf
        if self.neuron is not None:
            if self.reset.due(self.time_step):
                self.state = None
            out, self.state = type(self).neuron_step(self.state, out.astype(self.dtype), self.neuron, self.neuron_bias)
        self.a_out.send(out)
        s = self.s_in.recv()
        if not self.graded:
            s = s.astype(bool)
        if self.conv is None:
            self.conv = Conv2d(correlation_kernel(self.weight), *self.geometry)
        self.a_buf = type(self).kernel(self.conv, s, self.weight_exp, self.bias).astype(self.a_buf.dtype)


@implements(proc=Conv, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyConvModelFixed(_ConvModel):
    """Integer model, bit-exact with the reference executor (and with Lava's
    stock fixed-point Conv for weight_exp 0 and no bias): im2col and BLAS,
    exact (lava_msf.intconv)."""

    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    a_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    a_buf: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    weight: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=8)
    bias: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    neuron_bias: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=13)
    kernel = staticmethod(conv_fixed)
    neuron_step = staticmethod(fixed_neuron_step)
    dtype = np.int64


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
    neuron_bias: np.ndarray = LavaPyType(np.ndarray, float)
    kernel = staticmethod(conv_float)
    neuron_step = staticmethod(float_neuron_step)
    dtype = np.float64
