"""Compiled (numba) integer kernels of the reference executor's fast path:
event-driven synapses (lava_msf.intconv) and the LIF's time loop
(lava_msf.neurons.lif, Lif.window). Imported on first use, so that reading a
network does not pay for numba's import."""

from numba import njit, uint64


@njit(cache=True)
def scatter_conv(x, w, out, ptr, taps, reach, kk, outputs, cg):
    """out (N * H' * W', O) += for each nonzero x[n, p, c] (pixels p, channels
    last) its value times its weight rows w (C * kH * kW, O/groups): for the
    pairs (tap, output pixel) ptr[p]..ptr[p + 1] of `taps`, `reach` that pixel p
    reaches (the geometry, found once per input size). Pixel by pixel, so that
    the output rows it touches stay in cache; unsigned row indices: numba then
    skips its negative-index handling."""
    n_, p_, c_ = x.shape
    og = w.shape[1]
    for n in range(n_):
        base = n * outputs
        for p in range(p_):
            for c in range(c_):
                v = x[n, p, c]
                if v == 0:
                    continue
                o0 = uint64((c // cg) * og)
                for e in range(ptr[p], ptr[p + 1]):
                    r = uint64(base + reach[e])
                    q = uint64(c * kk + taps[e])
                    for k in range(uint64(og)):
                        out[r, o0 + k] += v * w[q, k]


@njit(cache=True)
def scatter_linear(x, w, out):
    """out (N, O) += for each nonzero x[n, f] its value times the weight row w[f] (F, O)."""
    for n in range(x.shape[0]):
        for f in range(x.shape[1]):
            v = x[n, f]
            if v != 0:
                for o in range(w.shape[1]):
                    out[n, o] += v * w[f, o]


@njit(cache=True)
def lif_window(a, u, v, bias, i_keep, v_keep, vth, wrap, limit, decay_shift, act_shift, spikes):
    """lava_msf.fixedpoint's lif_update and lif_fire over the steps of a
    (T, N, C, M), state u, v (N, C, M) in place, bias (C,) per channel: the same
    integer operations, element by element."""
    round_up = (1 << decay_shift) - 1
    for t in range(a.shape[0]):
        for n in range(a.shape[1]):
            for c in range(a.shape[2]):
                b = bias[c]
                for m in range(a.shape[3]):
                    p = u[n, c, m] * i_keep
                    cur = ((p + ((p >> 63) & round_up)) >> decay_shift) + (a[t, n, c, m] << act_shift)
                    if cur > wrap:
                        cur -= 2 * wrap
                    elif cur <= -wrap:
                        cur += 2 * wrap
                    p = v[n, c, m] * v_keep
                    volt = ((p + ((p >> 63) & round_up)) >> decay_shift) + cur + b
                    volt = min(max(volt, -limit), limit)
                    u[n, c, m] = cur
                    if volt > vth:
                        spikes[t, n, c, m] = 1
                        v[n, c, m] = 0
                    else:
                        v[n, c, m] = volt
