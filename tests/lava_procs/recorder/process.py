from lava.magma.core.process.ports.ports import InPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var


class Recorder(AbstractProcess):
    """Records what arrives on `a_in` into `record[(t - 1) % steps]` at Lava time
    step t: a ring buffer the host reads with `record.get()` after a run. Used
    as the output sink (readout currents) and as a per-layer spike probe."""

    def __init__(self, *, shape: tuple, steps: int, name: str | None = None):
        super().__init__(name=name)
        self.a_in = InPort(shape=tuple(shape))
        self.record = Var(shape=(int(steps), *shape), init=0)
