"""input: the integer frames of one model step (image pixels quantized to 8
bits, or event counts); `value_shift` is the right shift a synapse applies to
them (the stem reads 8-bit pixels as x / 256, like NetX's spike_exp).

NetX's input layer may have a neuron: the frame is then that neuron's current
(its a_in, as lava-dl's tests feed it) and the layer emits its spikes. Its
`weight` and `bias` keys are NetX's input transform, current = x * weight +
bias for real-valued x (SLAYER's affine input, in weight-mantissa units): NetX
hands it to the user and applies it nowhere, and so does lava-msf (kept on the
layer, written back; `transform_frames` applies it on request)."""

import numpy as np

from ..errors import NetFileError
from ..neurons import model_of
from . import hdf5
from .base import LayerType, need

IMAGE_MAX = 255  # 8-bit input frames
VALUE_SHIFT_MAX = 16
TRANSFORM_MAX = 1 << 23  # |weight|, |bias|: a 24-bit current
NETX_TRANSFORM = {"weight": 64, "bias": 0}  # NetX's defaults when a key is absent


def transform(layer) -> dict | None:
    """The NetX input transform {'weight', 'bias'} of an input layer, None when the file has none."""
    return layer.attrs.get("transform")


def transform_frames(layer, x) -> np.ndarray:
    """Real-valued input x -> the currents NetX's transform makes of it:
    rint(x * weight + bias) (NetX's defaults for a missing key), integers in
    float64 so that the caller bounds them before any integer cast."""
    t = {**NETX_TRANSFORM, **(transform(layer) or {})}
    return np.rint(np.asarray(x, dtype=np.float64) * t["weight"] + t["bias"])


class Input(LayerType):
    name = "input"
    arity = (0, 0)
    keys = frozenset({"valueShift", "neuron", "weight", "bias"})
    neuron = "optional"

    def read(self, g, layer, at):
        shift = hdf5.integer(g, "valueShift", at, 0, VALUE_SHIFT_MAX, default=0)
        layer.attrs = {"value_shift": shift} if shift else {}
        # NetX reads int(weight), int(bias): one value each
        t = {key: hdf5.integer(g, key, at, -TRANSFORM_MAX, TRANSFORM_MAX) for key in ("weight", "bias") if key in g}
        if t:
            layer.attrs["transform"] = t
        layer.bias = None  # NetX builds the input neuron without a bias: `bias` is the transform's
        if layer.neuron is not None:
            if shift:
                raise NetFileError(f"{at}: key 'valueShift' is for frames read without a neuron")
            input_form = getattr(model_of(layer.neuron), "input_form", None)  # NetX's SDNN: a Delta here
            if input_form is not None:
                layer.neuron = input_form(layer.neuron)

    def write(self, g, layer, net):
        if int(layer.attrs.get("value_shift", 0)):
            g.create_dataset("valueShift", data=int(layer.attrs["value_shift"]))
        for key, value in (transform(layer) or {}).items():
            g.create_dataset(key, data=int(value))

    def check(self, net, layer, src, at):
        need(layer.bias is None, at, "an input layer has no bias (NetX's input 'bias' is its transform)")
        t = transform(layer) or {}
        need(set(t) <= set(NETX_TRANSFORM) and all(isinstance(v, int) and abs(v) <= TRANSFORM_MAX
                                                    for v in t.values()), at,
             f"the input transform must be integers 'weight', 'bias' up to {TRANSFORM_MAX}, got {t}")

    def value_shift(self, layer):
        if layer.neuron is not None:  # what its neuron emits
            return super().value_shift(layer)
        return int(layer.attrs.get("value_shift", 0))

    def graded_frames(self, layer) -> bool:
        """Pixels, and any frame that is a neuron's current, travel as values."""
        return layer.neuron is not None or self.value_shift(layer) > 0

    def reference(self, net, i, be):
        return lambda x: x[0]  # the executor hands the input layer its frame (its neuron's current)

    def lava(self, b, i, layer, ports):
        if layer.neuron is None:
            return ports[0]
        neuron = b.add(b.lif(i, f"{i}:{layer.name}/neuron"))
        ports[0].connect(neuron.a_in)
        return neuron.s_out

    def to_nir(self, x, i, layer):  # NIR: frames x / 2**k; a neuron's frame is its current (1/64 units)
        import nir

        hints = {f"transform_{k}": v for k, v in (transform(layer) or {}).items()}
        name = x.add(i, layer.name, nir.Input(input_type={"input": np.array(layer.shape)}), (), layer.shape,
                     type=self.name, **hints)
        k = 6 if layer.neuron is not None else self.value_shift(layer)
        if k:
            name = x.add(i, f"{layer.name}.scale", nir.Scale(scale=np.full(layer.shape, 2.0 ** -k)), [name],
                         layer.shape)
        if layer.neuron is not None:
            x.neuron(i, f"{layer.name}.neuron", [name], layer.shape)

    def resources(self, r, i, layer, row):
        if layer.neuron is not None:  # it sends its neuron's spikes, or graded messages (NetX's SDNN Delta)
            row["message_bits"] = 0 if layer.spiking else r.target["message_bits"]
            return 1
        bound = IMAGE_MAX if r.net.meta.get("input") == "image" else 1
        row["message_bits"] = 0 if bound == 1 else int(bound).bit_length()
        return bound


TYPE = Input()
