from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess

PORTS = 4  # inputs of different pipeline latency; inputs of equal latency share a port


class Merge(AbstractProcess):
    """Membrane-shortcut merge: the sum of currents that belong to the same model
    time step. Each synapse hop costs one Lava step, so the branches of a residual
    block arrive with different latencies: port `a_in{i}` delays what it receives
    by `delays[i]` steps so that all branches meet. Several connections into one
    port are summed by Lava. No delay of its own."""

    def __init__(self, *, shape: tuple, delays: tuple, name: str | None = None):
        if not 1 <= len(delays) <= PORTS or min(delays) < 0:
            raise ValueError(f"Merge {name}: 1..{PORTS} non-negative input delays, got {delays}")
        super().__init__(name=name, delays=tuple(int(d) for d in delays))
        for i in range(PORTS):
            setattr(self, f"a_in{i}", InPort(shape=tuple(shape)))
        self.a_out = OutPort(shape=tuple(shape))
