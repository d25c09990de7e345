from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess

from lava_msf.layers.sdsa import VARIANTS


class SDSA(AbstractProcess):
    """Spike-driven self-attention on Q, K, V spike maps (B, W, H, C), per sample: tokens are the
    W*H positions, channels split into `heads` heads. Masking (AND of 0/1
    spikes) and accumulation (counts) only, then the attention neuron (a LIF
    with `vth_mant`, `i_decay`, `v_decay`) and, for the V1 forms, a mask:
      v2:    SN(scale * Q (K^T V))           per head
      v1_kv: Q AND SN(scale * SUM_tokens(K AND V))
      v1_qk: V AND SN(scale * SUM_channels(Q AND K))   per head
    `delays` align the three inputs (steps per port); the neuron state is reset
    at each sample's first step (time_step % reset_interval == reset_offset).
    No delay of its own."""

    def __init__(self, *, shape: tuple, variant: str, heads: int, scale: int, vth_mant: int,
                 i_decay: int, v_decay: int, reset_interval: int, reset_offset: int = 0,
                 delays: tuple = (0, 0, 0), name: str | None = None):
        if variant not in VARIANTS or shape[-1] % heads:
            raise ValueError(f"SDSA {name}: variant {variant!r} must be one of {VARIANTS} and "
                             f"heads={heads} must divide {shape[-1]} channels")
        super().__init__(name=name, variant=variant, heads=int(heads), scale=int(scale),
                         vth_mant=int(vth_mant), i_decay=int(i_decay), v_decay=int(v_decay),
                         reset_interval=int(reset_interval), reset_offset=int(reset_offset),
                         delays=tuple(int(d) for d in delays))
        self.q_in = InPort(shape=tuple(shape))
        self.k_in = InPort(shape=tuple(shape))
        self.v_in = InPort(shape=tuple(shape))
        self.s_out = OutPort(shape=tuple(shape))
