"""mean: token mean of a current, per channel, (sum_hw(src) * m) >> k (floor)
-> (C, 1, 1). On Lava the project's TokenMean process; no delay."""

from numbers import Integral

from ..chip.loihi2 import signed_bits
from . import hdf5
from .base import LayerType, need

SHIFT_MAX = 24
GAIN_MAX = 16  # scale * tokens: the output is at most 16 times the largest input


class Mean(LayerType):
    name = "mean"
    keys = frozenset({"scaleMant", "scaleShift"})

    def read(self, g, layer, at):
        layer.attrs = {"scale_mant": hdf5.integer(g, "scaleMant", at, 0, GAIN_MAX << SHIFT_MAX),
                       "scale_shift": hdf5.integer(g, "scaleShift", at, 0, SHIFT_MAX)}

    def write(self, g, layer, net):
        g.create_dataset("scaleMant", data=int(layer.attrs["scale_mant"]))
        g.create_dataset("scaleShift", data=int(layer.attrs["scale_shift"]))

    def check(self, net, layer, src, at):
        need(not src[0].spiking and tuple(layer.shape) == (src[0].shape[0], 1, 1), at,
             "reads a current (C, H, W) and gives (C, 1, 1)")
        m, k = (layer.attrs.get(key) for key in ("scale_mant", "scale_shift"))
        need(isinstance(m, Integral) and isinstance(k, Integral) and 0 <= k <= SHIFT_MAX, at,
             f"scale_shift must be an integer in 0..{SHIFT_MAX} and scale_mant an integer")
        # scale <= GAIN_MAX / tokens and k <= SHIFT_MAX: sum * m of 32-bit currents stays below 2**63 and
        # the output within GAIN_MAX times the input, as the int64 products and int32 ports of every backend hold
        hw = src[0].shape[1] * src[0].shape[2]
        need(0 <= m * hw <= GAIN_MAX << k, at,
             f"scale {m} / 2**{k} over {GAIN_MAX} / {hw} tokens (a mean scales by about 1 / tokens)")

    def reference(self, net, i, be):
        m, k = int(net.layers[i].attrs["scale_mant"]), int(net.layers[i].attrs["scale_shift"])

        def mean(x):
            a = (be.sum(x[0], (2, 3)) * m) >> k
            return a.reshape(a.shape[0], -1, 1, 1)
        return mean

    def lava(self, b, i, layer, ports):
        from ..runtime.proc.token_mean.process import TokenMean

        mean = b.add(TokenMean(shape=b.shape(layer.inputs[0]),
                               scale_mant=int(layer.attrs["scale_mant"]),
                               scale_shift=int(layer.attrs["scale_shift"]), name=f"{i}:{layer.name}"))
        ports[0].connect(mean.a_in)
        return mean.a_out

    def to_nir(self, x, i, layer):  # a SumPool2d over all tokens, then Scale m / 2**k (NIR: no floor)
        import nir
        import numpy as np

        source, shape = x.image_source(i)
        m, k = int(layer.attrs["scale_mant"]), int(layer.attrs["scale_shift"])
        name = x.add(i, layer.name, nir.SumPool2d(kernel_size=np.array(shape[1:]), stride=np.array(shape[1:]),
                                                  padding=np.zeros(2, dtype=np.int64)), [source], layer.shape,
                     type=self.name, scale_shift=k)
        scale = x.value(layer, "scale", np.float64(m / 2.0 ** k))
        x.add(i, f"{layer.name}.scale", nir.Scale(scale=np.full(layer.shape, scale)), [name], layer.shape)

    def resources(self, r, i, layer, row):
        src = r.net.layers[layer.inputs[0]]
        m, k = int(layer.attrs["scale_mant"]), int(layer.attrs["scale_shift"])
        hw = src.shape[1] * src.shape[2]
        weight, exp = m, -k
        while weight and weight % 2 == 0 and exp < 0:  # m's trailing zeros move into the exponent (exact)
            weight, exp = weight // 2, exp + 1
        row.update(synapses=src.size, fan_in=hw, fan_out=1, weight_bits=signed_bits(weight) - 1, weight_exp=exp)
        return (r.src_bounds(layer)[0] * hw * m) >> k


TYPE = Mean()
