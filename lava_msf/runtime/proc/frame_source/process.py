import numpy as np
from lava.magma.core.process.ports.ports import OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var


class FrameSource(AbstractProcess):
    """Plays `frames` (steps, W, H, C) one per step, cyclically: at Lava time step
    t it sends frames[(t - 1) % steps]. Graded (image pixels as integer values)
    or spikes (event frames: nonzero -> 1). Load the next batch with
    `frames.set(...)` between runs."""

    def __init__(self, *, frames: np.ndarray, graded: bool = True, name: str | None = None):
        super().__init__(name=name, graded=bool(graded))
        self.frames = Var(shape=frames.shape, init=frames)
        self.s_out = OutPort(shape=frames.shape[1:])
