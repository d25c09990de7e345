from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess


class TokenMean(AbstractProcess):
    """Mean of a current over the W*H tokens as (sum * scale_mant) >> scale_shift
    (floor), per sample and channel: (B, W, H, C) -> (B, 1, 1, C). No delay."""

    def __init__(self, *, shape: tuple, scale_mant: int, scale_shift: int, name: str | None = None):
        super().__init__(name=name, scale_mant=int(scale_mant), scale_shift=int(scale_shift))
        self.a_in = InPort(shape=tuple(shape))
        self.a_out = OutPort(shape=(shape[0], 1, 1, shape[3]))
