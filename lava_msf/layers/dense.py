"""dense: fully connected on the flattened source (C*H*W), output (C, 1, 1)
(+ bias, + neuron). a = sat24(shift(W @ flatten(src), e - g) + b)."""

import math

import h5py
import numpy as np

from ..errors import NetFileError
from . import hdf5
from .base import need
from .synapse import Synapse


def netx_effective_weight(w: np.ndarray):
    """The weights stock NetX's Dense computes with, and their exponent: NetX's
    optimize_weight_bits (lava.lib.dl.netx.utils), then the clip and LSB
    truncation of Lava's fixed-point Dense (lava.utils.weightutils)."""
    w = w.astype(np.int64)
    hi, lo = int(w.max()), int(w.min())
    if hi == lo == 0:
        return w, 0
    if (hi > 254 and lo < 0) or (lo < -256 and hi > 0):
        w = w.clip(-256, 254)
        hi, lo = int(w.max()), int(w.min())
    signed = int(hi >= 0 and lo < 0)  # NetX: mixed-sign unless all >= 0 or all < 0
    scale = (min(127 / hi if hi > 0 else math.inf, -128 / lo) if signed else -256 / lo if hi < 0 else 255 / hi)
    scale_bits = math.floor(math.log2(scale)) + signed
    n = next((n for n in range(8, 0, -1) if not (w % (1 << n)).any()), 0) - signed
    num_bits = 8 - scale_bits - n
    if scale_bits < 0:
        return None, -scale_bits  # NetX shifts left by a negative count: no defined weights
    w = w << scale_bits
    # Lava's Dense: its own sign mode, clip to 8 bits, drop the LSBs below num_bits
    mode = "exc" if w.min() >= 0 else "inh" if w.max() <= 0 else "mixed"
    mag = -w if mode == "inh" else w
    mag = mag.clip(-256 if mode == "mixed" else 0, 255)
    drop = 8 - num_bits + (mode == "mixed")
    if drop < 0:
        return None, -scale_bits  # a negative shift count: undefined in Lava
    mag = (mag >> drop) << drop
    return (-mag if mode == "inh" else mag), -scale_bits


class Dense(Synapse):
    name = "dense"
    keys = Synapse.keys | {"inFeatures", "outFeatures", "delay"}
    netx_flatten = True

    def read(self, g, layer, at):
        if isinstance(g.get("weight"), h5py.Group):  # NetX's complex synapse (weight/real, weight/imag)
            return self.complex(layer).read(g, layer, at)
        super().read(g, layer, at)
        layer.weight = self.matrix(g, layer, layer.weight, at, "weight")

    def matrix(self, g, layer, w, at, key):
        """A weight in NetX's forms -> (out, in), checked against NetX's redundant keys."""
        layer.shape = (math.prod(layer.shape), 1, 1)  # NetX reads any shape as its number of neurons
        if w.ndim == 1 and w.size % layer.shape[0] == 0:  # NetX's 1-D form: (out * in,)
            w = w.reshape(layer.shape[0], -1)
        if w.ndim != 2:
            raise NetFileError(f"{at}: key {key!r} must be (out, in), got {w.shape}")
        for redundant, value in (("inFeatures", w.shape[1]), ("outFeatures", w.shape[0])):
            if redundant in g and hdf5.integer(g, redundant, at, 0, hdf5.EXACT) != value:
                raise NetFileError(f"{at}: key {redundant!r} = {hdf5.integer(g, redundant, at, 0, hdf5.EXACT)} does "
                                   f"not match the weight {w.shape} ({value})")
        return w

    @staticmethod
    def complex(layer):
        """The layer as NetX's ComplexDense (lava_msf.layers.dense_complex)."""
        from . import spec

        layer.type = "dense_comp"
        return spec(layer)

    def netx_read(self, layer, at):
        from . import spec

        if layer.type != self.name:  # read as another type (complex)
            return spec(layer).netx_read(layer, at)
        self.netx_exact(layer.weight, f"{at}: key 'weight'")

    @staticmethod
    def netx_exact(w, at):
        """Stock NetX rescales a dense weight to 8 bits and Lava's Dense truncates it:
        lava-msf reads a plain NetX file only where that is exact."""
        effective, exp = netx_effective_weight(w)
        if effective is None or exp > 0 or not np.array_equal(effective, w.astype(np.int64) << -exp):
            raise NetFileError(f"{at} (in {int(w.min())}..{int(w.max())}) is one stock NetX clips or "
                               f"truncates; lava-msf computes weights exactly and refuses it")

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
        return layer.weight.astype(np.int64).reshape(layer.shape[0], *src.shape), 1, 0, 1, 1

    def to_nir(self, x, i, layer):
        import nir

        x.synapse(i, nir.Affine(weight=x.weight(layer), bias=x.current_bias(layer, layer.shape[0])),
                  [x.flat_source(i)], (layer.shape[0],))

    def counts(self, layer, src):
        n_in, n_out = int(np.prod(src.shape)), layer.shape[0]
        return n_in * n_out, n_in, n_out

    def flops(self, net, i):
        layer = net.layers[i]
        return int(layer.weight.shape[0]) * int(np.prod(net.layers[layer.inputs[0]].shape))


TYPE = Dense()
