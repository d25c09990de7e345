"""convT: transposed 2-D convolution of one source (SLAYER's ConvTranspose),
weight (in, out/groups, kH, kW) as torch's; stride, padding (at most
dilation * (k - 1) per axis) and dilation, each an int or a (y, x) pair, and
groups (+ bias, + neuron); output size (H - 1) * stride - 2 * padding +
dilation * (k - 1) + 1 per axis (SLAYER's format has no output padding).
a = sat24(shift(conv_transpose2d(src, W), e - g) + b). On Lava the project's
ConvT process: a Conv on the zero-upsampled input; one step per hop."""

import numpy as np

from ..errors import NetFileError
from ..intconv import transposed_kernel
from . import hdf5
from .base import need
from .pool import axes, check_attrs, check_size, check_window, describe, read_window, window, write_window
from .synapse import Synapse


def output_size(size, kernel, stride, padding, dilation) -> tuple:
    """(H', W') of a transposed conv over (H, W) (PyTorch's rule, output padding 0)."""
    return tuple((n - 1) * s - 2 * p + d * (k - 1) + 1
                 for n, k, s, p, d in zip(size, kernel, stride, padding, dilation))


class ConvT(Synapse):
    name = "convT"
    keys = Synapse.keys | {"inChannels", "outChannels", "kernelSize", "stride", "padding", "dilation", "groups"}

    def read(self, g, layer, at):
        super().read(g, layer, at)
        layer.attrs = read_window(g, layer, at, stride_default=1)
        c_in, c_out_g = layer.weight.shape[:2]
        groups = layer.attrs["groups"] = hdf5.integer(g, "groups", at, 1, c_in, default=1)
        for key, v in (("inChannels", c_in), ("outChannels", c_out_g * groups)):
            if key in g and hdf5.integer(g, key, at, 0, hdf5.MAX_ELEMENTS) != v:
                raise NetFileError(f"{at}: key {key!r} does not match the weight {layer.weight.shape} in "
                                   f"{groups} groups ({v})")

    def write(self, g, layer, net):
        super().write(g, layer, net)
        g.create_dataset("inChannels", data=int(layer.weight.shape[0]))
        g.create_dataset("outChannels", data=int(layer.shape[0]))
        write_window(g, layer, self.window(layer))
        g.create_dataset("groups", data=int(layer.attrs.get("groups", 1)))

    def window(self, layer) -> tuple:
        return window(layer, 1)

    def transposed(self, layer) -> tuple:
        """(weight (in, out/groups, kH, kW), groups): the layer as a transposed conv."""
        return layer.weight, int(layer.attrs.get("groups", 1))

    def check_weight(self, layer, src, at):
        w, groups = self.transposed(layer)
        need(w.ndim == 4 and w.size, at, f"{self.name} weight must be (in, out/groups, kH, kW), got {w.shape}")
        check_attrs(layer, at)
        geometry, k = self.window(layer), w.shape[2:]
        check_window(geometry, k, at)
        need(groups >= 1 and w.shape[0] == src.shape[0] and src.shape[0] % groups == 0
             and layer.shape[0] == w.shape[1] * groups, at,
             f"{self.name} weight {w.shape} does not fit {src.shape[0]} -> {layer.shape[0]} channels in "
             f"{groups} groups")
        check_size(layer.shape[1:], output_size(src.shape[1:], k, *geometry), at, describe(src, k, geometry),
                   "'padding' crops the whole output")

    def row_sums(self, layer):
        w, groups = self.transposed(layer)
        k = transposed_kernel(w.astype(np.int64), 1, groups)  # per output channel
        return np.abs(k).reshape(k.shape[0], -1).sum(axis=1)

    def state_elements(self, layer, src):
        """The upsampled, padded input, the conv's kernel and its im2col matrix (lava_msf.intconv)."""
        stride, padding, dilation = self.window(layer)
        c, h, w = src[0].shape
        ky, kx = (d * (n - 1) + 1 for d, n in zip(dilation, layer.weight.shape[2:]))
        hy, wx = ((n - 1) * s + 1 + 2 * (k - 1 - p) for n, s, k, p in zip((h, w), stride, (ky, kx), padding))
        return c * hy * wx + layer.shape[0] * c * ky * kx + c * ky * kx * layer.shape[1] * layer.shape[2]

    def synapse(self, layer, weight, be):
        w, groups = self.transposed(layer)
        return be.conv_transpose(be.asint(w), *self.window(layer), groups)

    def lava_process(self):
        from ..runtime.proc.conv_t.process import ConvT as ConvTProcess

        return ConvTProcess

    def lava_conv(self, layer, src):
        """The ConvT process's Conv: the transposed conv's kernel, upsampling `stride`, padding k' - 1 - p."""
        stride, padding, dilation = self.window(layer)
        w, groups = self.transposed(layer)
        k = transposed_kernel(w.astype(np.int64), dilation, groups)
        pad = tuple(n - 1 - p for n, p in zip(k.shape[-2:], padding))
        return k, stride, pad, groups, 1  # the kernel is dilated already

    def counts(self, layer, src):
        w, groups = self.transposed(layer)
        c_in, c_out_g = w.shape[:2]
        (ty, ry), (tx, rx) = axes(src.shape, layer.shape, w.shape[2:], self.window(layer), True)
        return (c_in * c_out_g * int(ry.sum()) * int(rx.sum()), c_in // groups * int(ty.max()) * int(tx.max()),
                c_out_g * int(ry.max()) * int(rx.max()))

    def flops(self, net, i):
        layer = net.layers[i]
        w, _ = self.transposed(layer)
        return int(np.prod(net.layers[layer.inputs[0]].shape[1:])) * int(np.prod(w.shape))


TYPE = ConvT()
