"""unpool: upsampling of each channel of one source by a transposed conv with
a kernel (1, 1, kH, kW) shared by all channels (SLAYER's Unpool synapse, the
block's 'weight'), stride (default: the kernel; then every input pixel
becomes a kH x kW block times the kernel), padding and dilation, each an int
or a (y, x) pair (+ bias, + neuron). a = sat24(shift(depthwise_conv_transpose2d(src, W), e - g) + b).
On Lava the project's ConvT process with the kernel on every channel; one
step per hop."""

import numpy as np

from .base import need
from .convT import ConvT
from .pool import kernel_size, read_window, window, write_window
from .synapse import Synapse


class Unpool(ConvT):
    name = "unpool"
    keys = Synapse.keys | {"kernelSize", "stride", "padding", "dilation"}

    def read(self, g, layer, at):
        Synapse.read(self, g, layer, at)
        layer.attrs = read_window(g, layer, at, stride_default=kernel_size(layer, at))

    def write(self, g, layer, net):
        Synapse.write(self, g, layer, net)
        write_window(g, layer, self.window(layer))

    def window(self, layer):
        return window(layer, layer.weight.shape[2:])  # SLAYER's default stride: the kernel

    def transposed(self, layer):
        c = layer.shape[0]
        return np.ascontiguousarray(np.broadcast_to(layer.weight, (c, *layer.weight.shape[1:]))), c

    def check_weight(self, layer, src, at):
        need(layer.weight.ndim == 4 and layer.weight.shape[:2] == (1, 1), at,
             f"unpool weight must be (1, 1, kH, kW), one kernel for every channel, got {layer.weight.shape}")
        super().check_weight(layer, src, at)


TYPE = Unpool()
