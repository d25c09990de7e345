"""input: the integer frames of one model step (image pixels quantized to 8
bits, or event counts); `value_shift` is the right shift a synapse applies to
them (the stem reads 8-bit pixels as x / 256, like NetX's spike_exp)."""

from . import hdf5
from .base import LayerType

IMAGE_MAX = 255  # 8-bit input frames
VALUE_SHIFT_MAX = 16


class Input(LayerType):
    name = "input"
    arity = (0, 0)
    keys = frozenset({"valueShift"})

    def read(self, g, layer, at):
        shift = hdf5.integer(g, "valueShift", at, 0, VALUE_SHIFT_MAX, default=0)
        layer.attrs = {"value_shift": shift} if shift else {}

    def write(self, g, layer, net):
        if self.value_shift(layer):
            g.create_dataset("valueShift", data=self.value_shift(layer))

    def value_shift(self, layer):
        return int(layer.attrs.get("value_shift", 0))

    def reference(self, net, i, be):
        return lambda x: x[0]  # the executor hands the input layer its frame

    def resources(self, r, i, layer, row):
        bound = IMAGE_MAX if r.net.meta.get("input") == "image" else 1
        row["message_bits"] = 0 if bound == 1 else int(bound).bit_length()
        return bound


TYPE = Input()
