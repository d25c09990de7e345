"""SDSA variants against naive loops; RepConv re-parameterization."""

import numpy as np
import pytest
import torch

from lava_msf import fixedpoint as fx
from lava_msf.model.layers import SDSA, SDSA_DEFAULT_SCALE, RepConv, sdsa_attention
from lava_msf.model.neuron import SpikingNeuron


def naive_current(q, k, v, variant, heads, scale):
    """Attention neuron input by explicit loops; q, k, v: (C, L) binary, one step."""
    c, length = q.shape
    d = c // heads
    if variant == "v2":
        out = np.zeros((c, length))
        for h in range(heads):
            for tok in range(length):
                for j in range(d):
                    acc = 0
                    for i in range(d):
                        if q[h * d + i, tok]:
                            acc += sum(k[h * d + i, m] and v[h * d + j, m] for m in range(length))
                    out[h * d + j, tok] = acc * scale
        return out
    if variant == "v1_kv":
        return np.array([[sum(k[ch, m] and v[ch, m] for m in range(length)) * scale] for ch in range(c)])
    out = np.zeros((heads, length))
    for h in range(heads):
        for tok in range(length):
            out[h, tok] = sum(q[h * d + i, tok] and k[h * d + i, tok] for i in range(d)) * scale
    return out


@pytest.mark.parametrize("variant", ["v2", "v1_kv", "v1_qk"])
@pytest.mark.parametrize("mode", ["float", "deploy"])
def test_sdsa_variant_matches_naive_formula(variant, mode):
    rng = np.random.default_rng(7)
    n, c, length, t, heads = 2, 8, 5, 4, 2
    q, k, v = (rng.random((n, c, length, t)) < p for p in (0.5, 0.6, 0.6))
    scale = SDSA_DEFAULT_SCALE[variant]
    sn = SpikingNeuron(fx.ATTENTION_THRESHOLD, mode)
    got = sdsa_attention(*(torch.from_numpy(z).float() for z in (q, k, v)), variant, heads, scale, sn)

    current = np.stack([np.stack([naive_current(q[b, ..., s], k[b, ..., s], v[b, ..., s], variant, heads, scale)
                                  for s in range(t)], -1) for b in range(n)])
    if mode == "float":
        mask, _ = fx.reference_lif_run(current, fx.ATTENTION_THRESHOLD)
    else:  # every current here is a multiple of 1/64: the fixed-point run is exact
        a = np.round(current / fx.TAU * fx.WEIGHT_SCALE).astype(np.int64)
        assert np.allclose(a * fx.TAU / fx.WEIGHT_SCALE, current)
        mask, _ = fx.lif_run(a, fx.LifParams.from_threshold(fx.ATTENTION_THRESHOLD))
    if variant == "v2":
        expected = mask
    elif variant == "v1_kv":
        expected = q & mask  # mask (C, 1) per step, broadcast over tokens
    else:
        expected = v & np.repeat(mask, c // heads, axis=1)
    assert expected.any() and (~expected).any()
    np.testing.assert_array_equal(got.numpy().astype(bool), expected)


def test_sdsa_branch_output_shape_and_heads():
    block = SDSA(16, heads=4, variant="v2")
    x = torch.randn(2, 16, 3, 3, 4)
    assert block(x).shape == x.shape


def _randomize_bn(module):
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-1, 1)


def test_repconv_fuses_into_one_3x3_conv_exactly():
    rep = RepConv(6, 10)
    _randomize_bn(rep)
    rep.eval()
    x = (torch.rand(3, 6, 7, 5, 4) < 0.4).float()
    weight, bias = rep.fuse()
    assert weight.shape == (10, 6, 3, 3) and bias.shape == (10,)
    frames = x.permute(0, 4, 1, 2, 3).reshape(12, 6, 7, 5)
    fused = torch.nn.functional.conv2d(frames, weight, bias, padding=1)
    fused = fused.reshape(3, 4, 10, 7, 5).permute(0, 2, 3, 4, 1)
    with torch.no_grad():
        unfused = rep(x)
    # float32 tolerance: both compute the same linear map in a different order
    assert torch.allclose(fused, unfused, atol=1e-5, rtol=1e-5)
    assert (unfused[:, :, 0] - unfused[:, :, 3]).abs().max() > 1e-3  # border is not trivial
