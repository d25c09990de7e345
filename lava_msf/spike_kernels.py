"""Compiled (numba) integer kernels of the reference executor's fast path:
event-driven synapses (lava_msf.intconv), a synapse's shift, bias and
saturation, and the LIF's time loop (lava_msf.neurons.lif, Lif.window), fused
so that a conv layer and its neuron are one pass over its product. Imported on
first use, so that reading a network does not pay for numba's import."""

from numba import njit, uint64


@njit(cache=True)
def scatter_conv(x, w, out, ptr, taps, reach, kk, outputs, cg):
    """out (N * H' * W', O) += for each nonzero x[n, c, p] (pixels p, NCHW as
    read) its value times its weight rows w (C * kH * kW, O/groups): for the
    pairs (tap, output pixel) ptr[p]..ptr[p + 1] of `taps`, `reach` that pixel p
    reaches (the geometry, found once per input size). Pixel by pixel, so that
    the output rows it touches stay in cache; a spike (1) adds its weight row
    without a multiply; unsigned row indices: numba then skips its
    negative-index handling."""
    n_, c_, p_ = x.shape
    og = w.shape[1]
    for n in range(n_):
        base = n * outputs
        for p in range(p_):
            for c in range(c_):
                v = x[n, c, p]
                if v == 0:
                    continue
                o0 = uint64((c // cg) * og)
                for e in range(ptr[p], ptr[p + 1]):
                    r = uint64(base + reach[e])
                    q = uint64(c * kk + taps[e])
                    if v == 1:
                        for k in range(uint64(og)):
                            out[r, o0 + k] += w[q, k]
                    else:
                        for k in range(uint64(og)):
                            out[r, o0 + k] += v * w[q, k]


@njit(cache=True)
def census(x):
    """(count of nonzeros, max |x|) of integer x (flat), in one pass."""
    nonzero, top = 0, 0
    for v in x:  # branch-free
        nonzero += v != 0
        top = max(top, abs(int(v)))
    return nonzero, top


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
def synapse_value(acc, k, bias, lo, hi):
    """lava_msf.fixedpoint's saturate_synapse(shift(acc, k) + bias) of one exact
    product (an integer, or an integer-valued float from BLAS)."""
    a = int(acc)
    a = (a << k if k >= 0 else a >> -k) + bias
    return min(max(a, lo), hi)


@njit(cache=True)
def synapse_currents(acc, k, bias, lo, hi, out):
    """out (N, O, P) int64 = synapse_value of acc (N, O, P), bias (O,)."""
    for n in range(acc.shape[0]):
        for o in range(acc.shape[1]):
            b = bias[o]
            for p in range(acc.shape[2]):
                out[n, o, p] = synapse_value(acc[n, o, p], k, b, lo, hi)


@njit(cache=True)
def lif_element(u, v, a, b, i_keep, v_keep, vth, wrap, limit, decay_shift, act_shift):
    """lava_msf.fixedpoint's lif_update and lif_fire on one neuron: its input a,
    voltage bias b -> (u, v after the reset, spike 0/1)."""
    round_up = (1 << decay_shift) - 1
    p = u * i_keep
    cur = ((p + ((p >> 63) & round_up)) >> decay_shift) + (a << act_shift)
    if cur > wrap:
        cur -= 2 * wrap
    elif cur <= -wrap:
        cur += 2 * wrap
    p = v * v_keep
    volt = ((p + ((p >> 63) & round_up)) >> decay_shift) + cur + b
    volt = min(max(volt, -limit), limit)
    if volt > vth:
        return cur, 0, 1
    return cur, volt, 0


@njit(cache=True)
def lif_window(a, u, v, bias, lif, synapse, spikes):
    """The LIF over the steps of a (T * N, C, M), time-major, state u, v (N, C, M)
    in place, voltage bias (C,) per channel, `lif` its constants (Lif.constants).
    `a` enters the neuron as synapse_value(a, *synapse): a synapse's exact
    product (C-ordered, integers or floats) with its (shift, low, high, bias (C,)),
    or a current as it is with (0, int64's range, zeros)."""
    i_keep, v_keep, vth, wrap, limit, decay_shift, act_shift = lif
    k, lo, hi, sb = synapse
    n_ = u.shape[0]
    for t in range(a.shape[0] // n_):
        for n in range(n_):
            row = t * n_ + n
            for c in range(u.shape[1]):
                b, s = bias[c], sb[c]
                for m in range(u.shape[2]):
                    cur, volt, fired = lif_element(u[n, c, m], v[n, c, m], synapse_value(a[row, c, m], k, s, lo, hi),
                                                   b, i_keep, v_keep, vth, wrap, limit, decay_shift, act_shift)
                    u[n, c, m] = cur
                    v[n, c, m] = volt
                    spikes[row, c, m] = fired
