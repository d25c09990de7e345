"""Exact integer convolution and matrix products in numpy, fast.

Integers are multiplied through BLAS in floating point, which is exact as long
as every partial sum is an integer the format represents: below 2**24 in
float32, 2**53 in float64. A bound on the partial sums, max|x| times the
largest row sum of |W|, picks float32 (twice the BLAS speed) when it holds.
Convolutions are im2col + one batched matmul per group; a depthwise kernel
(one input channel per group) is a shift-and-accumulate over its taps, which
beats a matmul of length kH*kW. Input channels that are all zero in a step
(45 % of them in a trained msf_tiny, whose spikes are 11 % dense) are left out
of the product.

Spikes are sparse: where few inputs are nonzero, an event-driven kernel
(numba, lava_msf.spike_kernels) adds, for each nonzero input, its value times
its weight column into the outputs it reaches, in integers (int32 when max|x| * max row sum |W| is
below 2**31, else int64): its cost follows the spikes. Each kernel measures,
on its first nonzero input, both ways and keeps the density below which the
event-driven one is faster (`crossover`); both are exact, so the choice
changes the time only. `MODE` forces one way (tests, benches).
"""

import functools
import math
import time

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

FLOAT32_EXACT = 1 << 24
SPARSE_FRACTION = 0.75  # leave silent channels out when at most this fraction is live
SPARSE_MIN_WORK = 1 << 14  # ... and the layer is big enough for that to pay (input channels x taps x outputs)
COLS_BYTES = 1 << 22  # a dense product's im2col matrix per chunk of the batch
INT32_EXACT = 1 << 31
CROSSOVER_REPEATS = 3
MODE = "auto"  # "auto": per kernel and call by the measured crossover; "dense" or "event": always that way


@functools.cache
def spike_kernels():
    """lava_msf.spike_kernels (numba), imported when first run: reading a network
    does not pay for numba's import."""
    from . import spike_kernels

    return spike_kernels


class EventDriven:
    """The choice between a dense product and event-driven accumulation for one
    kernel: per batch size, `crossover`, the input density below which events
    are faster, measured on the first call with nonzero input of that size."""

    def __init__(self, w_bound):
        self.w_bound, self.crossover = w_bound, {}

    def acc_dtype(self, x_bound: int):
        return np.int32 if x_bound * self.w_bound < INT32_EXACT else np.int64

    def __call__(self, x, dense, event, nonzero=None):
        """x's exact integer result by `dense(x)` or `event(x)`; `nonzero`: x's
        count of nonzeros where the caller has it."""
        if self.w_bound is None or MODE == "dense":
            return dense(x)
        if MODE == "event":
            return event(x)
        nonzero = np.count_nonzero(x) if nonzero is None else nonzero
        density = nonzero / max(1, x.size)
        crossover = self.crossover.get(len(x))
        if crossover is None and nonzero:
            # event-driven time ~ fixed (its output) + per spike; the dense time, fixed (first order)
            silent = np.zeros_like(x)
            event(silent)  # its first call may compile or load the kernel: not timed
            times, out = [math.inf] * 3, None
            for _ in range(CROSSOVER_REPEATS):  # the best of a few: one timing on a shared machine can be off 2x
                for k, (fn, arg) in enumerate(((event, silent), (event, x), (dense, x))):
                    t0 = time.perf_counter()
                    out = fn(arg)
                    times[k] = min(times[k], time.perf_counter() - t0)
            fixed, spikes, whole = times
            self.crossover[len(x)] = density * max(whole - fixed, 0.0) / max(spikes - fixed, 1e-9)
            return out
        return event(x) if density < (crossover or 0.0) else dense(x)


def as_int64(acc: np.ndarray) -> np.ndarray:
    """An exact product (integers, or integer-valued floats) as a new C-ordered
    int64 array (a copy: the event-driven product's buffer is reused)."""
    return np.array(acc if np.issubdtype(acc.dtype, np.integer) else np.rint(acc), dtype=np.int64, order="C")


def exact_dtype(x_bound: int, w_bound: int):
    """The cheaper float type in which sums of |x| <= x_bound times weights of
    row |sum| <= w_bound are exact."""
    return np.float32 if x_bound * w_bound < FLOAT32_EXACT else np.float64


def abs_max(x: np.ndarray) -> int:
    return int(max(-int(x.min()), int(x.max()))) if x.size else 0


def pair(v) -> tuple:
    """An int or a (y, x) pair -> the (y, x) pair of ints."""
    y, x = (v, v) if np.ndim(v) == 0 else v
    return int(y), int(x)


class Conv2d:
    """Cross-correlation (N, C, H, W) -> (N, O, H', W') with fixed weights
    (O, C/groups, kH, kW); stride, zero padding and dilation are ints or (y, x) pairs."""

    def __init__(self, weight, stride=1, padding=0, groups: int = 1, dilation=1):
        w = np.asarray(weight)
        self.out, self.cg, self.kh, self.kw = w.shape
        self.stride, self.padding, self.groups = pair(stride), pair(padding), int(groups)
        self.dilation = pair(dilation)
        self.per_group = self.out // self.groups
        self.w_bound = int(np.abs(w.astype(np.int64)).reshape(self.out, -1).sum(1).max(initial=0)) \
            if np.issubdtype(w.dtype, np.integer) else None
        self.depthwise = self.cg == 1 and self.groups > 1
        if self.depthwise:  # taps (kH, kW, O, 1, 1) broadcast over (N, O, H', W')
            taps = w[:, 0].transpose(1, 2, 0)[..., None, None]
        else:  # (groups, O/groups, C/groups * kH * kW)
            taps = w.reshape(self.groups, self.per_group, -1)
        self._taps = {t: np.ascontiguousarray(taps, dtype=t) for t in (np.float32, np.float64)}
        self.events = EventDriven(self.w_bound)
        self._reach = {}  # (H, W) of an input -> _reach_of's CSR
        self._buffers, self._silent = {}, {}
        if self.w_bound is not None:  # per input channel its weight columns (C, kH, kW, O/groups)
            cols = w.astype(np.int64).reshape(self.groups, self.per_group, self.cg, self.kh, self.kw) \
                    .transpose(0, 2, 3, 4, 1).reshape(self.groups * self.cg, self.kh, self.kw, self.per_group)
            self._cols = {t: np.ascontiguousarray(cols.reshape(-1, self.per_group), dtype=t)
                          for t in (np.int32, np.int64)}

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Integer x -> the exact integer result (int64)."""
        if self.w_bound is None:
            return np.rint(self._compute(x.astype(np.float64, copy=False), np.float64)).astype(np.int64)
        return as_int64(self.product(x)).reshape(len(x), self.out, *self.output_size(x.shape[2:]))

    def output_size(self, size) -> tuple:
        return output_size(size, (self.kh, self.kw), self.stride, self.padding, self.dilation)

    def product(self, x: np.ndarray) -> np.ndarray:
        """Integer x (N, C, H, W) -> its exact product (N, O, H' * W'), C-ordered,
        to read only: integers (event-driven; a buffer the next call reuses) or
        integer-valued floats (dense, BLAS), by the measured crossover."""
        nonzero, bound = spike_kernels().census(x.reshape(-1))
        if not nonzero:  # a silent input (common at 1 ms bins): zeros, kept and never written
            key = (len(x), *self.output_size(x.shape[2:]))
            if key not in self._silent:
                self._silent[key] = np.zeros((len(x), self.out, key[1] * key[2]), np.int32)
            return self._silent[key]

        def dense(x):
            dtype = exact_dtype(bound, self.w_bound)
            return self._compute(x.astype(dtype, copy=False), dtype).reshape(len(x), self.out, -1)

        return self.events(x, dense, lambda x: self._scatter(x, bound), nonzero)

    def scatter(self, x: np.ndarray, bound: int) -> np.ndarray:
        """The event-driven result of integer x (int64)."""
        return as_int64(self._scatter(x, bound)).reshape(len(x), self.out, *self.output_size(x.shape[2:]))

    def _scatter(self, x, bound):
        dtype = self.events.acc_dtype(bound)
        n, c, h, w = x.shape
        reach = self._reach.get((h, w))
        if reach is None:
            reach = self._reach[h, w] = self._reach_of(h, w)
        outputs = reach[-1]
        out = self._buffer((n * outputs, self.out), dtype)
        spike_kernels().scatter_conv(x.reshape(n, c, h * w), self._cols[dtype], out, *reach, self.cg)
        # channels last -> NCHW (numpy's copy: compiled loops read a strided array 10x slower)
        nchw = self._buffers.get((n, outputs, dtype))
        if nchw is None:
            nchw = self._buffers[n, outputs, dtype] = np.empty((n, self.out, outputs), dtype)
        np.copyto(nchw, out.reshape(n, outputs, self.out).transpose(0, 2, 1))
        return nchw

    def _buffer(self, shape, dtype):
        """The event-driven accumulator, zeroed, reused across calls of one shape."""
        buf = self._buffers.get((shape, dtype))
        if buf is None:
            buf = self._buffers[shape, dtype] = np.zeros(shape, dtype)
        else:
            buf.fill(0)
        return buf

    def _reach_of(self, h, w):
        """Per input pixel (y * W + x) the (tap i * kW + j, output pixel) pairs it
        reaches, as CSR: (ptr, taps, outputs), then kH * kW and H' * W' (scatter_conv's)."""
        ho, wo = self.output_size((h, w))
        (py, px), (sy, sx), (dy, dx) = self.padding, self.stride, self.dilation
        oy, ox, i, j = np.meshgrid(np.arange(ho), np.arange(wo), np.arange(self.kh), np.arange(self.kw),
                                   indexing="ij")
        y, x = oy * sy - py + i * dy, ox * sx - px + j * dx
        inside = (y >= 0) & (y < h) & (x >= 0) & (x < w)
        pixel, tap, opix = (y * w + x)[inside], (i * self.kw + j)[inside], (oy * wo + ox)[inside]
        order = np.argsort(pixel, kind="stable")
        ptr = np.zeros(h * w + 1, dtype=np.int64)
        np.cumsum(np.bincount(pixel, minlength=h * w), out=ptr[1:])
        return ptr, tap[order].astype(np.int64), opix[order].astype(np.int64), self.kh * self.kw, ho * wo

    def real(self, x: np.ndarray) -> np.ndarray:
        """Real-valued x -> the float64 result, nothing rounded."""
        return self._compute(x.astype(np.float64, copy=False), np.float64)

    def _compute(self, x, dtype):
        """The product in float `dtype`, in batch chunks whose im2col matrix stays
        within COLS_BYTES (cache-sized: a whole big batch's would not be)."""
        n, c, h, w = x.shape
        ho, wo = output_size((h, w), (self.kh, self.kw), self.stride, self.padding, self.dilation)
        per_sample = c * self.kh * self.kw * ho * wo * np.dtype(dtype).itemsize
        chunk = max(1, COLS_BYTES // max(1, per_sample))
        if n <= chunk:
            return self._compute_chunk(x, dtype)
        out = np.empty((n, self.out, ho, wo), dtype)
        for i in range(0, n, chunk):
            out[i:i + chunk] = self._compute_chunk(x[i:i + chunk], dtype)
        return out

    def _compute_chunk(self, x, dtype):
        n, c, h, w = x.shape
        (py, px), (sy, sx), (dy, dx) = self.padding, self.stride, self.dilation
        ho, wo = output_size((h, w), (self.kh, self.kw), self.stride, self.padding, self.dilation)
        taps = self._taps[dtype]
        # spikes are sparse: input channels silent in this step contribute nothing
        live = np.arange(c)
        if self.groups in (1, c) and c * self.kh * self.kw * ho * wo >= SPARSE_MIN_WORK:
            live = np.flatnonzero(x.reshape(n * c, -1).any(axis=1).reshape(n, c).any(axis=0))
        if not len(live):
            return np.zeros((n, self.out, ho, wo), dtype)
        sparse = len(live) <= SPARSE_FRACTION * c
        if sparse:
            x = x[:, live]
        if py or px:
            x = np.pad(x, ((0, 0), (0, 0), (py, py), (px, px)))
        if self.depthwise:  # output channel o reads input channel o // per_group
            outs = (live[:, None] * self.per_group + np.arange(self.per_group)).ravel() if sparse else slice(None)
            if self.per_group > 1:
                x = np.repeat(x, self.per_group, axis=1)
            acc = np.zeros((n, x.shape[1], ho, wo), dtype)
            for i in range(self.kh):
                for j in range(self.kw):
                    y0, x0 = i * dy, j * dx
                    acc += taps[i, j, outs] * x[:, :, y0:y0 + sy * (ho - 1) + 1:sy, x0:x0 + sx * (wo - 1) + 1:sx]
            if not sparse:
                return acc
            out = np.zeros((n, self.out, ho, wo), dtype)
            out[:, outs] = acc
            return out
        if sparse:  # groups == 1: the weights of the live channels
            taps = np.take(taps.reshape(1, self.out, c, -1), live, axis=2).reshape(1, self.out, -1)
        cg = x.shape[1] // self.groups
        if self.kh == self.kw == 1:
            cols = x[:, :, :sy * (ho - 1) + 1:sy, :sx * (wo - 1) + 1:sx].reshape(n, self.groups, cg, ho * wo)
        else:
            span = (dy * (self.kh - 1) + 1, dx * (self.kw - 1) + 1)
            win = sliding_window_view(x, span, axis=(2, 3))[:, :, ::sy, ::sx, ::dy, ::dx]
            cols = win.reshape(n, self.groups, cg, ho, wo, self.kh, self.kw) \
                      .transpose(0, 1, 2, 5, 6, 3, 4).reshape(n, self.groups, -1, ho * wo)
        return np.matmul(taps, cols).reshape(n, self.out, ho, wo)


def output_size(size, kernel, stride=1, padding=0, dilation=1) -> tuple:
    """(H', W') of a conv over (H, W) with kernel (kH, kW) (PyTorch's and Lava's rule)."""
    return tuple((n + 2 * p - d * (k - 1) - 1) // s + 1
                 for n, k, s, p, d in zip(size, kernel, pair(stride), pair(padding), pair(dilation)))


class Linear:
    """(N, F) -> (N, O) with fixed weights (O, F): the same exactness rule."""

    def __init__(self, weight):
        w = np.asarray(weight)
        self.w_bound = int(np.abs(w.astype(np.int64)).sum(1).max(initial=0))
        self._taps = {t: np.ascontiguousarray(w.T, dtype=t) for t in (np.float32, np.float64, np.int32, np.int64)}
        self.events = EventDriven(self.w_bound)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        bound = abs_max(x)

        def dense(x):
            dtype = exact_dtype(bound, self.w_bound)
            return np.rint(x.astype(dtype, copy=False) @ self._taps[dtype]).astype(np.int64)

        def event(x):
            dtype = self.events.acc_dtype(bound)
            out = np.zeros((x.shape[0], self._taps[dtype].shape[1]), dtype)
            spike_kernels().scatter_linear(np.ascontiguousarray(x, dtype=dtype), self._taps[dtype], out)
            return out.astype(np.int64)

        return self.events(x, dense, event)


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Integer a @ b (batched), exact: float32 when max|a| * max|b| * the inner
    length fits."""
    dtype = exact_dtype(abs_max(a), abs_max(b) * a.shape[-1])
    return np.rint(np.matmul(a.astype(dtype, copy=False), b.astype(dtype, copy=False))).astype(np.int64)


def dilate(weight: np.ndarray, dilation) -> np.ndarray:
    """A kernel (..., kH, kW) with dilation - 1 zeros between its taps (an int or a
    (y, x) pair): the dilated kernel as an ordinary one."""
    w = np.asarray(weight)
    dy, dx = pair(dilation)
    if dy == dx == 1:
        return w
    kh, kw = w.shape[-2:]
    out = np.zeros((*w.shape[:-2], dy * (kh - 1) + 1, dx * (kw - 1) + 1), dtype=w.dtype)
    out[..., ::dy, ::dx] = w
    return out


def transposed_kernel(weight: np.ndarray, dilation, groups: int) -> np.ndarray:
    """A transposed conv's weight (C, O/groups, kH, kW) (torch's layout) as the
    kernel (O, C/groups, kH', kW') of the ordinary conv that computes it on the
    zero-upsampled input: per group in and out swapped, taps flipped, dilated."""
    w = np.asarray(weight)
    c, og = w.shape[:2]
    w = w.reshape(groups, c // groups, og, *w.shape[2:]).swapaxes(1, 2).reshape(groups * og, c // groups,
                                                                                *w.shape[2:])
    return dilate(np.ascontiguousarray(w[..., ::-1, ::-1]), dilation)


class Upsampled:
    """A Conv2d (stride 1) applied to its input with stride - 1 zeros inserted
    between pixels (an int or a (y, x) pair): a transposed convolution when the
    conv has the kernel of transposed_kernel and padding kH' - 1 - the
    transposed conv's padding per axis."""

    def __init__(self, conv: Conv2d, stride):
        self.conv, self.stride = conv, pair(stride)

    def _spread(self, x):
        sy, sx = self.stride
        if sy == sx == 1:
            return x
        n, c, h, w = x.shape
        out = np.zeros((n, c, (h - 1) * sy + 1, (w - 1) * sx + 1), dtype=x.dtype)
        out[:, :, ::sy, ::sx] = x
        return out

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.conv(self._spread(x))

    def real(self, x: np.ndarray) -> np.ndarray:
        return self.conv.real(self._spread(x))


def conv_transpose(weight, stride=1, padding=0, dilation=1, groups: int = 1) -> Upsampled:
    """Exact integer transposed convolution with weight (C, O/groups, kH, kW);
    stride, padding and dilation ints or (y, x) pairs, padding at most
    dilation * (k - 1) per axis (output padding 0, as SLAYER's)."""
    k = transposed_kernel(weight, dilation, groups)
    return Upsampled(Conv2d(k, 1, tuple(n - 1 - p for n, p in zip(k.shape[-2:], pair(padding))), groups), stride)
