import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from lava_msf import fixedpoint as fx
from lava_msf.runtime.kernels import DelayLine, ResetSchedule, fixed_neuron_step, float_neuron_step, sdsa_step
from lava_msf.runtime.proc.sdsa.process import SDSA


class _SDSAModel(PyLoihiProcessModel):
    lif_step = None  # fixed_neuron_step or float_neuron_step

    def __init__(self, proc_params):
        super().__init__(proc_params)
        p = proc_params
        self.attention = {k: p[k] for k in ("variant", "heads", "scale")}
        self.neuron = fx.LifParams(p["vth_mant"], p["i_decay"], p["v_decay"])
        self.reset = ResetSchedule(p["reset_interval"], p["reset_offset"])
        self.delays = p["delays"]
        self.lines, self.state = None, None  # state: the attention neuron's (u, v)

    def run_spk(self):
        ports = (self.q_in, self.k_in, self.v_in)
        if self.lines is None:
            self.lines = [DelayLine(d, port.shape, np.int64) for d, port in zip(self.delays, ports)]
        q, k, v = (line.push(port.recv().astype(np.int64)) for line, port in zip(self.lines, ports))
        if self.reset.due(self.time_step):
            self.state = None
        self.s_out.send(sdsa_step(self.attention, q, k, v, self.attention_neuron))

    def attention_neuron(self, current):
        """current (B, C', H', W') int64 -> spikes; keeps the neuron's state."""
        spikes, self.state = type(self).lif_step(self.state, current, self.neuron)
        return spikes


@implements(proc=SDSA, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySDSAModelFixed(_SDSAModel):
    """Integer counts and the fixed-point LIF of lava_msf.fixedpoint: bit-exact
    with the reference executor."""

    q_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=1)
    k_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=1)
    v_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=1)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=1)
    lif_step = staticmethod(fixed_neuron_step)


@implements(proc=SDSA, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PySDSAModelFloat(_SDSAModel):
    """The same counts (exact in float) and Lava's floating-point LIF."""

    q_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    k_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    v_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    lif_step = staticmethod(float_neuron_step)
