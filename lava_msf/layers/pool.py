"""pool: sum pooling of each channel of one source with a kernel (1, 1, kH, kW)
shared by all channels (SLAYER's Pool synapse: the block's 'weight', e.g. 64
per tap), stride (default: the kernel), padding and dilation, each an int or a
(y, x) pair as NetX files store them (+ bias, + neuron, as SLAYER's pool blocks
carry one). a = sat24(shift(depthwise_conv2d(src, W), e - g) + b). SLAYER
pools the channels stacked along H; with stride >= dilation * (k - 1) + 1, H
divisible by the stride and no padding (its use) that is this per-channel
pooling. On Lava the project's Conv with the kernel on every channel
(groups = C): fixed weights, what Lava's stock Conv computes; one step per hop."""

from numbers import Integral

import numpy as np

from ..errors import NetFileError
from ..intconv import dilate, output_size, pair
from . import hdf5
from .base import need
from .synapse import Synapse

DILATION_MAX = 1 << 10
STRIDE_MAX = 1 << 16
WINDOW = ("stride", "padding", "dilation")


def window(layer, stride) -> tuple:
    """(stride, padding, dilation) of a pool, convT or unpool layer as (y, x) pairs;
    `stride` (an int or a pair) when not given."""
    return tuple(pair(layer.attrs.get(k, d)) for k, d in zip(WINDOW, (stride, 0, 1)))


def kernel_size(layer, at: str) -> tuple:
    """(kH, kW) of a 4-D weight (NetFileError naming the key otherwise)."""
    w = layer.weight
    if w.ndim != 4 or not w.size:
        raise NetFileError(f"{at}: key 'weight' must be 4-D (.., .., kH, kW), got {w.shape}")
    return tuple(int(k) for k in w.shape[2:])


def read_window(g, layer, at: str, stride_default) -> dict:
    """kernelSize (checked against the weight), stride, padding and dilation as
    lava-dl writes them: one value or a (y, x) pair each."""
    k = kernel_size(layer, at)
    if "kernelSize" in g and hdf5.pair(g, "kernelSize", at, 1, STRIDE_MAX, 1) != k:
        raise NetFileError(f"{at}: key 'kernelSize' {hdf5.ints(g, 'kernelSize', at).tolist()[:4]} does not match "
                           f"the weight's kernel {list(k)}")
    dilation = hdf5.pair(g, "dilation", at, 1, DILATION_MAX, 1)
    padding = hdf5.pair(g, "padding", at, 0, STRIDE_MAX, 0)
    if any(p > d * (n - 1) for p, d, n in zip(padding, dilation, k)):
        raise NetFileError(f"{at}: key 'padding' {list(padding)} must be at most dilation * (kernel - 1) "
                           f"(kernel {list(k)}, dilation {list(dilation)})")
    stride = hdf5.pair(g, "stride", at, 1, STRIDE_MAX, stride_default)
    return {key: hdf5.compact(v) for key, v in zip(WINDOW, (stride, padding, dilation))}


def write_window(g, layer, geometry: tuple) -> None:
    g.create_dataset("kernelSize", data=np.array(layer.weight.shape[2:], dtype=np.int64))
    for key, v in zip(WINDOW, geometry):
        g.create_dataset(key, data=np.array(v, dtype=np.int64))


def check_attrs(layer, at: str) -> None:
    """Each window attr an int or a (y, x) pair of ints (what window() reads)."""
    for key in WINDOW:
        v = layer.attrs.get(key, 1)
        ok = isinstance(v, Integral) if np.ndim(v) == 0 else \
            np.ndim(v) == 1 and len(v) == 2 and all(isinstance(e, Integral) for e in v)
        need(ok, at, f"'{key}' {v!r} must be an int or a (y, x) pair of ints")


def check_window(geometry: tuple, kernel: tuple, at: str) -> None:
    stride, padding, dilation = geometry
    need(all(1 <= s <= STRIDE_MAX for s in stride), at, f"'stride' {stride} must be in 1..{STRIDE_MAX} per axis")
    need(all(1 <= d <= DILATION_MAX for d in dilation), at,
         f"'dilation' {dilation} must be in 1..{DILATION_MAX} per axis")
    need(all(0 <= p <= d * (k - 1) for p, d, k in zip(padding, dilation, kernel)), at,
         f"'padding' {padding} must be in 0..dilation * (kernel - 1) per axis (kernel {kernel}, "
         f"dilation {dilation})")


def check_size(size: tuple, expected: tuple, at: str, what: str, empty: str) -> None:
    """The output (H', W') that `what` (the input and geometry) gives must be the
    layer's; `empty` says which key is at fault when it gives none."""
    need(min(expected) >= 1, at, f"{empty}: {what} gives output size {expected}")
    need(tuple(size) == tuple(expected), at, f"output size {tuple(size)} does not follow from {what} "
         f"({expected})")


def describe(src, kernel, geometry) -> str:
    stride, padding, dilation = geometry
    return f"input {src.shape}, kernel {kernel}, stride {stride}, padding {padding}, dilation {dilation}"


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


def axes(src_shape, out_shape, kernel, geometry, transposed: bool):
    """connections() along y and x: ((taps, reach) of y, (taps, reach) of x)."""
    return tuple(connections(src_shape[1 + a], out_shape[1 + a], kernel[a], *(g[a] for g in geometry), transposed)
                 for a in (0, 1))


class Pool(Synapse):
    name = "pool"
    keys = Synapse.keys | {"kernelSize", "stride", "padding", "dilation"}

    def read(self, g, layer, at):
        super().read(g, layer, at)
        layer.attrs = read_window(g, layer, at, stride_default=kernel_size(layer, at))

    def write(self, g, layer, net):
        super().write(g, layer, net)
        write_window(g, layer, self.window(layer))

    def check_weight(self, layer, src, at):
        w = layer.weight
        need(w.ndim == 4 and w.shape[:2] == (1, 1) and w.size, at,
             f"pool weight must be (1, 1, kH, kW), one kernel for every channel, got {w.shape}")
        check_attrs(layer, at)
        geometry, k = self.window(layer), w.shape[2:]
        check_window(geometry, k, at)
        need(layer.shape[0] == src.shape[0], at, f"pools each of {src.shape[0]} channels: output must have as many")
        check_size(layer.shape[1:], output_size(src.shape[1:], k, *geometry), at, describe(src, k, geometry),
                   "'kernelSize' larger than the padded input")

    def window(self, layer) -> tuple:
        return window(layer, layer.weight.shape[2:])  # SLAYER's default stride: the kernel

    def kernel(self, layer) -> np.ndarray:
        """The depthwise conv kernel (C, 1, kH', kW'): the shared kernel, dilated, on every channel."""
        w = dilate(layer.weight.astype(np.int64), self.window(layer)[2])
        return np.ascontiguousarray(np.broadcast_to(w, (layer.shape[0], *w.shape[1:])))

    def state_elements(self, layer, src):
        """The kernel on every channel and, at most, its im2col matrix (lava_msf.intconv)."""
        (dy, dx), (kh, kw) = self.window(layer)[2], layer.weight.shape[2:]
        return layer.shape[0] * (dy * (kh - 1) + 1) * (dx * (kw - 1) + 1) * (1 + layer.shape[1] * layer.shape[2])

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
        (ty, ry), (tx, rx) = axes(src.shape, layer.shape, layer.weight.shape[2:], self.window(layer), False)
        return (layer.shape[0] * int(ty.sum()) * int(tx.sum()), int(ty.max()) * int(tx.max()),
                int(ry.max()) * int(rx.max()))

    def flops(self, net, i):
        layer = net.layers[i]
        return layer.size * int(np.prod(layer.weight.shape[2:]))


TYPE = Pool()
