"""conv: 2-D cross-correlation of one source, square stride and padding,
groups (+ bias, + neuron). a = sat24(shift(conv2d(src, W), e - g) + b), g the
source's value shift."""

import numpy as np

from ..errors import NetFileError
from . import hdf5
from .base import need
from .synapse import Synapse

GEOMETRY = (("stride", 1), ("padding", 0), ("groups", 1))  # attrs and their defaults


def geometry(layer) -> tuple:
    """(stride, padding, groups) of a conv layer."""
    return tuple(int(layer.attrs.get(k, d)) for k, d in GEOMETRY)


def _axis(n_in: int, n_out: int, k: int, stride: int, pad: int):
    """Per output position the taps inside the input; per input position the
    outputs it reaches (one spatial axis)."""
    taps = np.zeros(n_out, dtype=np.int64)
    reach = np.zeros(n_in, dtype=np.int64)
    for o in range(n_out):
        pos = o * stride - pad + np.arange(k)
        pos = pos[(pos >= 0) & (pos < n_in)]
        taps[o] = len(pos)
        reach[pos] += 1
    return taps, reach


class Conv(Synapse):
    name = "conv"
    keys = Synapse.keys | {"inChannels", "outChannels", "kernelSize", "stride", "padding", "dilation", "groups",
                           "delay"}

    def read(self, g, layer, at):
        super().read(g, layer, at)
        if layer.weight.ndim != 4:
            raise NetFileError(f"{at}: key 'weight' must be (out, in/groups, kH, kW), got {layer.weight.shape}")
        k = min(layer.weight.shape[2:])
        layer.attrs = {"stride": hdf5.square(g, "stride", at, 1, 1 << 16, 1),
                       "padding": hdf5.square(g, "padding", at, 0, max(k - 1, 0), 0),
                       "groups": hdf5.integer(g, "groups", at, 1, layer.shape[0], default=1)}
        if hdf5.square(g, "dilation", at, 1, 1 << 20, 1) != 1:
            raise NetFileError(f"{at}: key 'dilation' other than 1 is not supported")

    def write(self, g, layer, net):
        super().write(g, layer, net)
        g.create_dataset("inChannels", data=net.layers[layer.inputs[0]].shape[0])
        g.create_dataset("outChannels", data=layer.shape[0])
        g.create_dataset("kernelSize", data=np.array(layer.weight.shape[2:], dtype=np.int64))
        stride, padding, groups = geometry(layer)
        for key, v in (("stride", stride), ("padding", padding)):
            g.create_dataset(key, data=np.array([v, v], dtype=np.int64))
        g.create_dataset("dilation", data=np.array([1, 1], dtype=np.int64))
        g.create_dataset("groups", data=groups)

    def check_weight(self, layer, src, at):
        w, c_out = layer.weight, layer.shape[0]
        stride, padding, groups = geometry(layer)
        need(w.ndim == 4, at, f"conv weight must be (out, in/groups, kH, kW), got {w.shape}")
        need(stride >= 1 and groups >= 1 and 0 <= padding < min(w.shape[2:]), at,
             f"stride {stride} and groups {groups} must be >= 1, padding {padding} in 0..kernel-1")
        need(w.shape[0] == c_out and src.shape[0] % groups == 0 and c_out % groups == 0
             and w.shape[1] == src.shape[0] // groups, at,
             f"conv weight {w.shape} does not fit {src.shape[0]} -> {c_out} channels in {groups} groups")
        for axis in (1, 2):
            size = (src.shape[axis] + 2 * padding - w.shape[axis + 1]) // stride + 1
            need(size == layer.shape[axis], at, f"output size {layer.shape} does not follow from input "
                 f"{src.shape}, kernel {w.shape[2:]}, stride {stride}, padding {padding}")

    def state_elements(self, layer, src):
        """The im2col matrix of a step: every tap of every output (lava_msf.intconv)."""
        return src[0].shape[0] * int(np.prod(layer.weight.shape[2:])) * layer.shape[1] * layer.shape[2] + \
            super().state_elements(layer, src)

    def synapse(self, layer, weight, be):
        return be.conv(weight, *geometry(layer))

    def lava_conv(self, layer, src):
        return (layer.weight.astype(np.int64), *geometry(layer))

    def counts(self, layer, src):
        stride, pad, groups = geometry(layer)
        c_out, c_in_g, kh, kw = layer.weight.shape
        ty, ry = _axis(src.shape[1], layer.shape[1], kh, stride, pad)
        tx, rx = _axis(src.shape[2], layer.shape[2], kw, stride, pad)
        return (c_out * c_in_g * int(ty.sum()) * int(tx.sum()), c_in_g * int(ty.max()) * int(tx.max()),
                c_out // groups * int(ry.max()) * int(rx.max()))

    def flops(self, net, i):
        layer = net.layers[i]
        c_in = net.layers[layer.inputs[0]].shape[0]
        k = layer.weight.shape[2] * layer.weight.shape[3]
        return int(np.prod(layer.shape)) * (c_in // geometry(layer)[2]) * k


TYPE = Conv()
