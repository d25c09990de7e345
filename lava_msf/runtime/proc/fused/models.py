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
        if self.proc_params["window"] > 1:
            return self._run_window()
        if (self.time_step - 1) % self.proc_params["reset_interval"] == 0:
            self.executor.reset(self.batch)
        frame = self.frame_in.recv().astype(np.int64)  # waits for the host: the stream paces the network
        frame = input_frame(frame, self.proc_params["graded"]).reshape(self.frame_shape)
        values = {} if self.probed else None
        # a window of one step: the executor's compiled path (numba LIF, event-driven synapses)
        self.out.send(to_whc(self.executor.advance(to_chw(frame)[..., None], values)[..., 0]).reshape(self.out.shape))
        if self.probed:
            self.probe.send(np.concatenate([to_whc(values[name][0]).reshape(self.batch, -1) for name in self.probed],
                                           axis=1).reshape(self.probe.shape))

    def _run_window(self):
        """A window of model steps in one Lava step: frames (window, W, H, C) in,
        outputs (window, W, H, C) out; advanced in runs between resets."""
        window, interval = self.proc_params["window"], self.proc_params["reset_interval"]
        frames = self.frame_in.recv().astype(np.int64)
        frames = input_frame(frames, self.proc_params["graded"]).transpose(3, 2, 1, 0)[None]  # (1, C, H, W, T)
        out = np.empty((window, *self.proc_params["net"].output.lava_shape), dtype=np.int32)
        t, k = 0, (self.time_step - 1) * window  # k: model step of frames[..., t]
        while t < window:
            if k % interval == 0:
                self.executor.reset(1)
            run = min(window - t, interval - k % interval)
            out[t:t + run] = self.executor.advance(frames[..., t:t + run])[0].transpose(3, 2, 1, 0)
            t, k = t + run, k + run
        self.out.send(out)
