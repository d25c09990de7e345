from lava.magma.core.process.ports.ports import InPort

from lava_msf.intconv import pair
from lava_msf.runtime.proc.conv.process import Conv


class ConvT(Conv):
    """Transposed-convolution synapse: the project's Conv (stride 1) on its
    input upsampled by zero insertion, `stride` - 1 zeros between pixels (an
    int or a (y, x) pair). With the transposed conv's kernel as an ordinary one
    (lava_msf.intconv.transposed_kernel, in Conv's layout) and padding
    kernel - 1 - its padding per axis this is the transposed conv. Everything
    else (weight_exp, bias, graded input, one step of delay, the optional
    neuron) is Conv's."""

    def __init__(self, *, input_shape: tuple, stride=1, batch: int = 1, **conv):
        w, h, c = input_shape
        sy, sx = pair(stride)
        super().__init__(input_shape=((w - 1) * sx + 1, (h - 1) * sy + 1, c), stride=1, batch=batch, **conv)
        self.proc_params["upsample"] = (sy, sx)
        self.s_in = InPort(shape=(int(batch), *input_shape))
