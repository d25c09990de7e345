"""conv: 2-D cross-correlation of one source; stride, zero padding and
dilation per axis, groups (+ bias, + neuron). a = sat24(shift(conv2d(src, W),
e - g) + b), g the source's value shift. Geometry pairs are (y, x), as NetX
files store them (NetX reverses them to Lava's (x, y))."""

import numpy as np

from ..errors import NetFileError
from ..intconv import output_size, pair
from . import hdf5
from .base import need
from .synapse import Synapse

GEOMETRY = (("stride", 1), ("padding", 0), ("groups", 1), ("dilation", 1))  # attrs and their defaults
MAX_STEP = 1 << 16  # stride and dilation


def geometry(layer) -> tuple:
    """(stride, padding, groups, dilation) of a conv layer: (y, x) pairs and an int."""
    stride, padding, groups, dilation = (layer.attrs.get(k, d) for k, d in GEOMETRY)
    return pair(stride), pair(padding), int(groups), pair(dilation)


def _axis(n_in: int, n_out: int, k: int, stride: int, pad: int, dil: int):
    """Per output position the taps inside the input; per input position the
    outputs it reaches (one spatial axis)."""
    taps = np.zeros(n_out, dtype=np.int64)
    reach = np.zeros(n_in, dtype=np.int64)
    for o in range(n_out):
        pos = o * stride - pad + dil * np.arange(k)
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
        w = layer.weight
        if w.ndim == 5 and w.shape[4] == 1:  # lava-dl's 3-D conv export: (out, in, kH, kW, 1), as NetX reads it
            layer.weight = w = w.reshape(w.shape[:4])
        if w.ndim != 4:
            raise NetFileError(f"{at}: key 'weight' must be (out, in/groups, kH, kW), got {w.shape}")
        groups = hdf5.integer(g, "groups", at, 1, layer.shape[0], default=1)
        dilation = hdf5.pair(g, "dilation", at, 1, MAX_STEP, 1)
        padding = hdf5.pair(g, "padding", at, 0, MAX_STEP, 0)
        if any(p >= d * (k - 1) + 1 for p, d, k in zip(padding, dilation, w.shape[2:])):
            raise NetFileError(f"{at}: key 'padding' {list(padding)} must be below the (dilated) kernel "
                               f"{list(w.shape[2:])}")
        stride = hdf5.pair(g, "stride", at, 1, MAX_STEP, 1)
        layer.attrs = {"stride": hdf5.compact(stride), "padding": hdf5.compact(padding), "groups": groups}
        if dilation != (1, 1):
            layer.attrs["dilation"] = hdf5.compact(dilation)
        # NetX's redundant keys: they must say what the weight says
        if "kernelSize" in g and hdf5.pair(g, "kernelSize", at, 1, MAX_STEP, 1) != w.shape[2:]:
            raise NetFileError(f"{at}: key 'kernelSize' {hdf5.ints(g, 'kernelSize', at).tolist()} does not match "
                               f"the weight's kernel {list(w.shape[2:])}")
        for key, value in (("inChannels", w.shape[1] * groups), ("outChannels", w.shape[0])):
            if key in g and hdf5.integer(g, key, at, 0, hdf5.EXACT) != value:
                raise NetFileError(f"{at}: key {key!r} = {hdf5.integer(g, key, at, 0, hdf5.EXACT)} does not match "
                                   f"the weight {w.shape} ({value})")

    def write(self, g, layer, net):
        super().write(g, layer, net)
        g.create_dataset("inChannels", data=net.layers[layer.inputs[0]].shape[0])
        g.create_dataset("outChannels", data=layer.shape[0])
        g.create_dataset("kernelSize", data=np.array(layer.weight.shape[2:], dtype=np.int64))
        stride, padding, groups, dilation = geometry(layer)
        for key, v in (("stride", stride), ("padding", padding), ("dilation", dilation)):
            g.create_dataset(key, data=np.array(v, dtype=np.int64))
        g.create_dataset("groups", data=groups)

    def check_weight(self, layer, src, at):
        w, c_out = layer.weight, layer.shape[0]
        need(w.ndim == 4, at, f"conv weight must be (out, in/groups, kH, kW), got {w.shape}")
        stride, padding, groups, dilation = geometry(layer)
        span = tuple(d * (k - 1) + 1 for d, k in zip(dilation, w.shape[2:]))
        need(min(stride + dilation) >= 1 and groups >= 1 and all(0 <= p < s for p, s in zip(padding, span)), at,
             f"stride {stride}, dilation {dilation} and groups {groups} must be >= 1, padding {padding} "
             f"in 0..(dilated kernel - 1)")
        need(w.shape[0] == c_out and src.shape[0] % groups == 0 and c_out % groups == 0
             and w.shape[1] == src.shape[0] // groups, at,
             f"conv weight {w.shape} does not fit {src.shape[0]} -> {c_out} channels in {groups} groups")
        size = output_size(src.shape[1:], w.shape[2:], stride, padding, dilation)
        need(size == tuple(layer.shape[1:]), at, f"output size {layer.shape} does not follow from input "
             f"{src.shape}, kernel {w.shape[2:]}, stride {stride}, padding {padding}, dilation {dilation}")

    def state_elements(self, layer, src):
        """The im2col matrix of a step: every tap of every output (lava_msf.intconv)."""
        return src[0].shape[0] * int(np.prod(layer.weight.shape[2:])) * layer.shape[1] * layer.shape[2] + \
            super().state_elements(layer, src)

    def synapse(self, layer, weight, be):
        return be.conv(weight, *geometry(layer))

    def lava_conv(self, layer, src):
        return (layer.weight.astype(np.int64), *geometry(layer))

    def to_nir(self, x, i, layer):  # NIR's (x, y) are torch's (H, W): lava-msf's (y, x) pairs as they are
        import nir

        source, shape = x.image_source(i)
        stride, padding, groups, dilation = geometry(layer)
        node = nir.Conv2d(input_shape=shape[1:], weight=x.weight(layer), stride=stride, padding=padding,
                          dilation=dilation, groups=groups, bias=x.current_bias(layer, layer.shape[0]))
        node.input_type = {"input": np.array(shape)}  # nir 1.0.8 takes C_in / groups for C_in
        x.synapse(i, node, [source], layer.shape)

    def counts(self, layer, src):
        stride, pad, groups, dil = geometry(layer)
        c_out, c_in_g, kh, kw = layer.weight.shape
        ty, ry = _axis(src.shape[1], layer.shape[1], kh, stride[0], pad[0], dil[0])
        tx, rx = _axis(src.shape[2], layer.shape[2], kw, stride[1], pad[1], dil[1])
        return (c_out * c_in_g * int(ty.sum()) * int(tx.sum()), c_in_g * int(ty.max()) * int(tx.max()),
                c_out // groups * int(ry.max()) * int(rx.max()))

    def flops(self, net, i):
        layer = net.layers[i]
        c_in = net.layers[layer.inputs[0]].shape[0]
        k = layer.weight.shape[2] * layer.weight.shape[3]
        return int(np.prod(layer.shape)) * (c_in // geometry(layer)[2]) * k


TYPE = Conv()
