"""The fast exact integer kernels against plain int64 arithmetic (bit-exact)."""

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from lava_msf import intconv


def conv_int64(x, w, stride, padding, groups):
    """Direct cross-correlation in int64 (no floating point anywhere)."""
    n, c, _, _ = x.shape
    o, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    win = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]
    win = win.reshape(n, groups, cg, *win.shape[2:])
    out = np.einsum("ngcyxij,gocij->ngoyx", win, w.reshape(groups, o // groups, cg, kh, kw))
    return out.reshape(n, o, *out.shape[3:])


GEOMETRIES = [  # (in channels, out channels, kernel, stride, padding, groups)
    (3, 8, 3, 1, 1, 1),
    (8, 16, 3, 2, 1, 1),
    (16, 8, 1, 1, 0, 1),
    (8, 8, 1, 2, 0, 1),
    (12, 12, 7, 1, 3, 12),  # depthwise (SepConv)
    (6, 12, 3, 2, 1, 6),  # depthwise with a channel multiplier
    (8, 12, 3, 1, 1, 4),  # grouped
    (4, 4, 5, 3, 0, 1),
]


@pytest.mark.parametrize("cin,cout,k,stride,padding,groups", GEOMETRIES)
@pytest.mark.parametrize("kind", ["spikes", "silent channels", "silence", "bytes", "currents"])
def test_conv2d_is_exact(cin, cout, k, stride, padding, groups, kind, monkeypatch):
    monkeypatch.setattr(intconv, "SPARSE_MIN_WORK", 0)  # every layer takes the silent-channel path
    rng = np.random.default_rng(cin * 31 + cout * 7 + k + stride + groups)
    w = rng.integers(-128, 128, (cout, cin // groups, k, k))
    high = {"bytes": 256, "currents": 1 << 23}.get(kind, 2)
    x = rng.integers(0 if kind != "currents" else -high, high, (2, cin, 11, 13))
    if kind == "silent channels":  # left out of the product: must not change it
        x[:, 1::3] = 0
        x[0, ::2] = 0
    elif kind == "silence":
        x[:] = 0
    conv = intconv.Conv2d(w, stride, padding, groups)
    got = conv(x)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, conv_int64(x, w, stride, padding, groups))
    np.testing.assert_array_equal(conv.real(x.astype(np.float64)), got.astype(np.float64))


def test_float32_only_where_exact():
    assert intconv.exact_dtype(1, (1 << 24) - 1) is np.float32
    assert intconv.exact_dtype(2, 1 << 23) is np.float64
    # sums just past float32's exact range: the conv must switch to float64
    w = np.full((1, 64, 1, 1), 127)
    x = np.full((1, 64, 2, 2), 2100)  # 64 * 127 * 2100 = 17,068,800 > 2**24, odd parts matter
    x[0, 0, 0, 0] += 1
    np.testing.assert_array_equal(intconv.Conv2d(w)(x), conv_int64(x, w, 1, 0, 1))


def test_linear_and_matmul_are_exact():
    rng = np.random.default_rng(1)
    w = rng.integers(-128, 128, (10, 300))
    for high in (2, 1 << 22):
        x = rng.integers(-high + 1, high, (3, 300))
        np.testing.assert_array_equal(intconv.Linear(w)(x), x @ w.T)
    a, b = rng.integers(0, 2, (2, 4, 8, 50)), rng.integers(0, 2, (2, 4, 50, 8))
    np.testing.assert_array_equal(intconv.matmul(a, b), a @ b)
    big = rng.integers(0, 1 << 20, (3, 40))
    np.testing.assert_array_equal(intconv.matmul(big, big.T), big @ big.T)
