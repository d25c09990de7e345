"""pool: sum pooling of each channel of one source with a kernel (1, 1, kH, kW)
shared by all channels (SLAYER's Pool synapse: the block's 'weight', e.g. 64
per tap), square kernel, stride (default: the kernel), padding and dilation
(+ bias, + neuron, as SLAYER's pool blocks carry one).
a = sat24(shift(depthwise_conv2d(src, W), e - g) + b). SLAYER pools the
channels stacked along H; with stride >= dilation * (k - 1) + 1, H divisible
by the stride and no padding (its use) that is this per-channel pooling.
On Lava the project's Conv with the kernel on every channel (groups = C):
fixed weights, what Lava's stock Conv computes; one step per hop."""

import numpy as np

from ..errors import NetFileError
from ..intconv import dilate
from . import hdf5
from .base import need
from .synapse import Synapse

DILATION_MAX = 1 << 10
STRIDE_MAX = 1 << 16
WINDOW = ("stride", "padding", "dilation")


def window(layer, stride: int) -> tuple:
    """(stride, padding, dilation) of a pool, convT or unpool layer; `stride` when not given."""
    return tuple(int(layer.attrs.get(k, d)) for k, d in zip(WINDOW, (stride, 0, 1)))


def square_kernel(layer, at: str) -> int:
    """The side of a 4-D weight's square kernel (NetFileError naming the key otherwise)."""
    w = layer.weight
    if w.ndim != 4 or w.shape[2] != w.shape[3] or not w.size:
        raise NetFileError(f"{at}: key 'weight' must be 4-D with a square kernel, got {w.shape}")
    return int(w.shape[2])


def read_window(g, layer, at: str, stride_default: int) -> dict:
    """kernelSize (checked against the weight), stride, padding and dilation as lava-dl writes them."""
    k = square_kernel(layer, at)
    if "kernelSize" in g:
        size = hdf5.ints(g, "kernelSize", at).reshape(-1)
        if size.size not in (1, 2) or (size != k).any():
            raise NetFileError(f"{at}: key 'kernelSize' {size.tolist()[:4]} does not match the weight's {k}x{k}")
    dilation = hdf5.square(g, "dilation", at, 1, DILATION_MAX, 1)
    return {"stride": hdf5.square(g, "stride", at, 1, STRIDE_MAX, stride_default),
            "padding": hdf5.square(g, "padding", at, 0, dilation * (k - 1), 0), "dilation": dilation}


def write_window(g, layer, geometry: tuple) -> None:
    g.create_dataset("kernelSize", data=np.array(layer.weight.shape[2:], dtype=np.int64))
    for key, v in zip(WINDOW, geometry):
        g.create_dataset(key, data=np.array([v, v], dtype=np.int64))


def check_window(geometry: tuple, k: int, at: str) -> None:
    stride, padding, dilation = geometry
    need(1 <= stride <= STRIDE_MAX and 1 <= dilation <= DILATION_MAX and 0 <= padding <= dilation * (k - 1), at,
         f"stride {stride} must be in 1..{STRIDE_MAX}, dilation {dilation} in 1..{DILATION_MAX}, padding "
         f"{padding} in 0..dilation * (kernel - 1)")


def connections(n_in: int, n_out: int, k: int, stride: int, pad: int, dilation: int, transposed: bool):
    """One spatial axis: per output position its taps inside the input, per input
    position the outputs it reaches. Input i and output o meet through tap j where
    o * stride - pad + j * dilation = i (a conv) or i * stride - pad + j * dilation = o
    (a transposed conv)."""
    taps, reach = np.zeros(n_out, dtype=np.int64), np.zeros(n_in, dtype=np.int64)
    near, far = (n_in, n_out) if transposed else (n_out, n_in)
    pos = np.arange(near)[:, None] * stride - pad + np.arange(k)[None, :] * dilation
    ok = (pos >= 0) & (pos < far)
    a, b = np.broadcast_to(np.arange(near)[:, None], pos.shape)[ok], pos[ok]
    o, i = (b, a) if transposed else (a, b)
    np.add.at(taps, o, 1)
    np.add.at(reach, i, 1)
    return taps, reach


class Pool(Synapse):
    name = "pool"
    keys = Synapse.keys | {"kernelSize", "stride", "padding", "dilation"}

    def read(self, g, layer, at):
        super().read(g, layer, at)
        layer.attrs = read_window(g, layer, at, stride_default=square_kernel(layer, at))

    def write(self, g, layer, net):
        super().write(g, layer, net)
        write_window(g, layer, self.window(layer))

    def check_weight(self, layer, src, at):
        w = layer.weight
        need(w.ndim == 4 and w.shape[:2] == (1, 1) and w.shape[2] == w.shape[3], at,
             f"pool weight must be (1, 1, k, k), one kernel for every channel, got {w.shape}")
        check_window(self.window(layer), w.shape[2], at)
        stride, padding, dilation = self.window(layer)
        span = dilation * (w.shape[2] - 1) + 1
        need(layer.shape[0] == src.shape[0], at, f"pools each of {src.shape[0]} channels: output must have as many")
        for axis in (1, 2):
            size = (src.shape[axis] + 2 * padding - span) // stride + 1
            need(size == layer.shape[axis], at, f"output size {layer.shape} does not follow from input "
                 f"{src.shape}, kernel {w.shape[2]}, stride {stride}, padding {padding}, dilation {dilation}")

    def window(self, layer) -> tuple:
        return window(layer, int(layer.weight.shape[-1]))  # SLAYER's default stride: the kernel

    def kernel(self, layer) -> np.ndarray:
        """The depthwise conv kernel (C, 1, kH', kW'): the shared kernel, dilated, on every channel."""
        w = dilate(layer.weight.astype(np.int64), self.window(layer)[2])
        return np.ascontiguousarray(np.broadcast_to(w, (layer.shape[0], *w.shape[1:])))

    def state_elements(self, layer, src):
        """The kernel on every channel and, at most, its im2col matrix (lava_msf.intconv)."""
        k = self.kernel_span(layer)
        return layer.shape[0] * k * k * (1 + layer.shape[1] * layer.shape[2])

    def kernel_span(self, layer) -> int:
        return self.window(layer)[2] * (layer.weight.shape[2] - 1) + 1

    def synapse(self, layer, weight, be):
        stride, padding, _ = self.window(layer)
        return be.conv(be.asint(self.kernel(layer)), stride, padding, layer.shape[0])

    def lava_conv(self, layer, src):
        stride, padding, _ = self.window(layer)
        return self.kernel(layer), stride, padding, layer.shape[0], 1  # the kernel is dilated already

    def to_nir(self, x, i, layer):  # NIR's SumPool2d has no weight: then a Scale by it
        import nir

        w = np.unique(x.weight(layer))
        stride, padding, dilation = (np.broadcast_to(np.asarray(v), (2,)) for v in self.window(layer))
        if w.size != 1 or (dilation != 1).any() or (layer.bias is not None and layer.neuron is None):
            raise x.error(i, "only a pool with one weight on every tap, no dilation and no current bias is a "
                          "NIR SumPool2d")
        source, shape = x.image_source(i)
        node = nir.SumPool2d(kernel_size=np.array(layer.weight.shape[2:]), stride=stride, padding=padding)
        x.synapse(i, node, [source], layer.shape, scale=float(w[0]))

    def counts(self, layer, src):
        stride, pad, dilation = self.window(layer)
        k = layer.weight.shape[2]
        ty, ry = connections(src.shape[1], layer.shape[1], k, stride, pad, dilation, False)
        tx, rx = connections(src.shape[2], layer.shape[2], k, stride, pad, dilation, False)
        return (layer.shape[0] * int(ty.sum()) * int(tx.sum()), int(ty.max()) * int(tx.max()),
                int(ry.max()) * int(rx.max()))

    def flops(self, net, i):
        layer = net.layers[i]
        return layer.size * int(layer.weight.shape[2]) ** 2


TYPE = Pool()
