from lava.magma.core.decorator import implements
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from lava_msf.intconv import Conv2d, Upsampled
from lava_msf.runtime.kernels import correlation_kernel
from lava_msf.runtime.proc.conv.models import PyConvModelFixed, PyConvModelFloat
from lava_msf.runtime.proc.conv_t.process import ConvT


class _Upsampling:
    """Conv's model with its sum taken on the zero-upsampled input."""

    implements_process = None  # re-targeted from Conv to ConvT (Lava refuses to overwrite it)

    def run_spk(self):
        if self.conv is None:
            self.conv = Upsampled(Conv2d(correlation_kernel(self.weight), *self.geometry),
                                  self.proc_params["upsample"])
        super().run_spk()


@implements(proc=ConvT, protocol=LoihiProtocol)
class PyConvTModelFixed(_Upsampling, PyConvModelFixed):
    """Conv's integer model (tag fixed_pt): bit-exact with the reference."""


@implements(proc=ConvT, protocol=LoihiProtocol)
class PyConvTModelFloat(_Upsampling, PyConvModelFloat):
    """Conv's real-valued model (tag floating_pt)."""
