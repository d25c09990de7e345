"""dense: fully connected on the flattened source (C*H*W), output (C, 1, 1)
(+ bias, + neuron). a = sat24(shift(W @ flatten(src), e - g) + b)."""

import numpy as np

from ..errors import NetFileError
from .base import need
from .synapse import Synapse


class Dense(Synapse):
    name = "dense"
    keys = Synapse.keys | {"inFeatures", "outFeatures", "delay"}
    netx_flatten = True

    def read(self, g, layer, at):
        super().read(g, layer, at)
        if layer.weight.ndim != 2:
            raise NetFileError(f"{at}: key 'weight' must be (out, in), got {layer.weight.shape}")

    def write(self, g, layer, net):
        super().write(g, layer, net)
        g.create_dataset("inFeatures", data=layer.weight.shape[1])
        g.create_dataset("outFeatures", data=layer.weight.shape[0])

    def check_weight(self, layer, src, at):
        c_out, n_in = layer.shape[0], int(np.prod(src.shape))
        need(layer.weight.shape == (c_out, n_in) and tuple(layer.shape[1:]) == (1, 1), at,
             f"dense weight must be ({c_out}, {n_in}) with output (C, 1, 1)")

    def synapse(self, layer, weight, be):
        linear = be.linear(weight)
        return lambda x: linear(x.reshape(x.shape[0], -1)).reshape(x.shape[0], -1, 1, 1)

    def lava_conv(self, layer, src):  # a conv whose kernel is the whole input
        return layer.weight.astype(np.int64).reshape(layer.shape[0], *src.shape), 1, 0, 1

    def counts(self, layer, src):
        n_in, n_out = int(np.prod(src.shape)), layer.shape[0]
        return n_in * n_out, n_in, n_out

    def flops(self, net, i):
        layer = net.layers[i]
        return int(layer.weight.shape[0]) * int(np.prod(net.layers[layer.inputs[0]].shape))


TYPE = Dense()
