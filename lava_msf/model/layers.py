"""Meta-SpikeFormer building blocks on lava-dl SLAYER synapses.

Tensors are (N, C, H, W, T), time last, as in SLAYER. Synapses are SLAYER
``synapse.Conv`` / ``synapse.Dense`` (weights (out, in, kH, kW, 1)); BatchNorm
is BatchNorm3d, i.e. statistics over (N, H, W, T) per channel, which equals the
reference code's BatchNorm2d over T*N frames. Every branch starts with a
spiking neuron (SN), so residual sums are sums of membrane inputs.

In memory, activations are channels-last frames, (N, T, H, W, C), seen as
(N, C, H, W, T): convs and BatchNorms then run on the N*T frames in the
layout CPU kernels are fastest in (depthwise 7x7: about 4x), and neither
they nor the neurons copy between layouts.
"""

import torch
import torch.nn.functional as F

from .. import fixedpoint as fx
from ..errors import ConfigError
from .neuron import SpikingNeuron
from .slayer import synapse

SDSA_VARIANTS = ("v2", "v1_kv", "v1_qk")
# Scale s applied to the attention neuron's input. V2 uses the paper's 0.125;
# the V1 forms follow the V1 code, which thresholds raw coincidence counts.
SDSA_DEFAULT_SCALE = {"v2": fx.ATTENTION_SCALE, "v1_kv": 1.0, "v1_qk": 1.0}
QKV_BN_INIT_SHIFT = 1.5


def as_frames(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W, T) -> its N*T frames (N*T, C, H, W), channels last: a view
    of a tensor in the module's layout, one copy of any other."""
    n, c, h, w, t = x.shape
    return x.permute(0, 4, 1, 2, 3).reshape(n * t, c, h, w).contiguous(memory_format=torch.channels_last)


def from_frames(y: torch.Tensor, t: int) -> torch.Tensor:
    """(N*T, C, H, W) frames -> (N, C, H, W, T), a view."""
    return y.reshape(-1, t, *y.shape[1:]).permute(0, 2, 3, 4, 1)


class Conv(synapse.Conv):
    """SLAYER conv synapse (weights (out, in/groups, kH, kW, 1)) evaluated as a 2-D
    conv over the N*T frames: the same result as SLAYER's conv3d, several times
    faster on CPU."""

    def forward(self, x):
        weight = self.weight if self._pre_hook_fx is None else self._pre_hook_fx(self.weight)
        if self.pointwise:  # a matmul over channels on the frames' memory: about 2x a 1x1 conv2d
            y = F.linear(x.permute(0, 4, 2, 3, 1), weight[:, :, 0, 0, 0], self.bias)
            return y.permute(0, 4, 2, 3, 1)
        y = F.conv2d(as_frames(x), weight[..., 0], self.bias, self.stride[:2], self.padding[:2],
                     self.dilation[:2], self.groups)
        return from_frames(y, x.shape[-1])

    @property
    def pointwise(self) -> bool:
        return self.weight.shape[2:4] == (1, 1) and self.groups == 1 and tuple(self.stride[:2]) == (1, 1) \
            and tuple(self.padding[:2]) == (0, 0)


def conv(c_in, c_out, kernel, stride=1, padding=0, groups=1, bias=False) -> Conv:
    """A conv synapse, optionally with a bias (SLAYER's own has none)."""
    layer = Conv(c_in, c_out, kernel, stride=stride, padding=padding, groups=groups)
    if bias:
        layer.bias = torch.nn.Parameter(torch.zeros(c_out))
    return layer


class BatchNorm(torch.nn.BatchNorm3d):
    """BatchNorm3d over (N, C, H, W, T), computed on the channels-last frames
    (the same statistics, over N, H, W and T)."""

    def forward(self, x):
        return from_frames(super().forward(as_frames(x).unsqueeze(2)).squeeze(2), x.shape[-1])


def bn(c: int) -> BatchNorm:
    return BatchNorm(c)


def bn_scale_shift(norm: torch.nn.BatchNorm3d):
    """Eval-mode BatchNorm as y = a * x + b per channel."""
    a = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    return a, norm.bias - norm.running_mean * a


class RepConv(torch.nn.Module):
    """1x1 conv -> BN padded with its own bias -> depthwise 3x3 (no pad) -> 1x1 -> BN.

    Purely linear; ``fuse()`` gives the one 3x3 conv (padding 1) with bias it
    equals in eval mode.
    """

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.pw_in = conv(c_in, c_in, 1)
        self.bn_pad = bn(c_in)
        self.dw = conv(c_in, c_in, 3, groups=c_in)
        self.pw_out = conv(c_in, c_out, 1)
        self.bn = bn(c_out)

    def forward(self, x):
        y = self.bn_pad(self.pw_in(x))
        # The border takes the value BN gives a zero input (running statistics,
        # as in the reference code), so the block stays one linear map.
        _, pad = bn_scale_shift(self.bn_pad)
        y = F.pad(y, (0, 0, 1, 1, 1, 1))
        border = torch.ones_like(y[:1, :1])
        border[:, :, 1:-1, 1:-1] = 0
        y = y + border * pad.detach().view(1, -1, 1, 1, 1)
        return self.bn(self.pw_out(self.dw(y)))

    @torch.no_grad()
    def fuse(self):
        """(weight (out, in, 3, 3), bias (out,)) of the equivalent 3x3 conv, pad 1."""
        a1, b1 = bn_scale_shift(self.bn_pad)
        w_in = self.pw_in.weight[:, :, 0, 0, 0] * a1[:, None]  # (c, in)
        dw = self.dw.weight[:, 0, :, :, 0]  # (c, 3, 3)
        w_out = self.pw_out.weight[:, :, 0, 0, 0]  # (out, c)
        a2, b2 = bn_scale_shift(self.bn)
        kernel = torch.einsum("oc,ckl,ci->oikl", w_out, dw, w_in)
        bias = w_out @ (b1 * dw.sum(dim=(1, 2)))
        return a2[:, None, None, None] * kernel, a2 * bias + b2


class SepConv(torch.nn.Module):
    """SN -> 1x1 (C -> 2C) -> BN -> SN -> depthwise 7x7 -> 1x1 (2C -> C) -> BN."""

    def __init__(self, c: int, expansion: int = 2, kernel: int = 7):
        super().__init__()
        hidden = expansion * c
        self.sn1 = SpikingNeuron()
        self.pw1 = conv(c, hidden, 1)
        self.bn1 = bn(hidden)
        self.sn2 = SpikingNeuron()
        self.dw = conv(hidden, hidden, kernel, padding=kernel // 2, groups=hidden)
        self.pw2 = conv(hidden, c, 1)
        self.bn2 = bn(c)

    def forward(self, x):
        x = self.bn1(self.pw1(self.sn1(x)))
        return self.bn2(self.pw2(self.dw(self.sn2(x))))


class ChannelConv(torch.nn.Module):
    """SN -> 3x3 (C -> rC) -> BN -> SN -> 3x3 (rC -> C) -> BN."""

    def __init__(self, c: int, ratio: int = 4):
        super().__init__()
        self.sn1 = SpikingNeuron()
        self.conv1 = conv(c, ratio * c, 3, padding=1)
        self.bn1 = bn(ratio * c)
        self.sn2 = SpikingNeuron()
        self.conv2 = conv(ratio * c, c, 3, padding=1)
        self.bn2 = bn(c)

    def forward(self, x):
        x = self.bn1(self.conv1(self.sn1(x)))
        return self.bn2(self.conv2(self.sn2(x)))


class ChannelMLP(torch.nn.Module):
    """SN -> 1x1 (C -> rC) -> BN -> SN -> 1x1 (rC -> C) -> BN, with biases."""

    def __init__(self, c: int, ratio: int = 4):
        super().__init__()
        self.sn1 = SpikingNeuron()
        self.fc1 = conv(c, ratio * c, 1, bias=True)
        self.bn1 = bn(ratio * c)
        self.sn2 = SpikingNeuron()
        self.fc2 = conv(ratio * c, c, 1, bias=True)
        self.bn2 = bn(c)

    def forward(self, x):
        x = self.bn1(self.fc1(self.sn1(x)))
        return self.bn2(self.fc2(self.sn2(x)))


class ConvBlock(torch.nn.Module):
    """Conv-based SNN block: U' = U + SepConv(U); U'' = U' + ChannelConv(U')."""

    def __init__(self, c: int, mlp_ratio: int = 4):
        super().__init__()
        self.sepconv = SepConv(c)
        self.channel_conv = ChannelConv(c, mlp_ratio)

    def forward(self, x):
        x = x + self.sepconv(x)
        return x + self.channel_conv(x)


def sdsa_attention(q, k, v, variant: str, heads: int, scale: float, attn_sn: SpikingNeuron):
    """Spike-driven self-attention on binary Q, K, V of shape (N, C, L, T).

    v2:    SN((Q (K^T V)) * s)        per head; K^T V is a d x d count matrix
    v1_kv: Q ⊗ SN(s SUM_tokens(K ⊗ V)) channel mask
    v1_qk: SN(s SUM_c(Q ⊗ K)) ⊗ V      token mask per head
    Returns binary spikes (N, C, L, T).
    """
    n, c, length, t = q.shape
    if variant == "v2":
        qh, kh, vh = (z.reshape(n, heads, c // heads, length, t) for z in (q, k, v))
        kv = torch.einsum("nhilt,nhjlt->nhijt", kh, vh)
        out = torch.einsum("nhilt,nhijt->nhjlt", qh, kv).reshape(n, c, length, t)
        return attn_sn(out * scale)
    if variant == "v1_kv":
        mask = attn_sn((k * v).sum(dim=2, keepdim=True) * scale)
        return q * mask
    if variant == "v1_qk":
        qk = (q * k).reshape(n, heads, c // heads, length, t).sum(dim=2, keepdim=True)
        mask = attn_sn(qk * scale)
        return (v.reshape(n, heads, c // heads, length, t) * mask).reshape(n, c, length, t)
    raise ConfigError(f"unknown SDSA variant {variant!r}; choose one of {', '.join(SDSA_VARIANTS)}")


class SDSA(torch.nn.Module):
    """SDSA branch: S = SN(U); Q, K, V = SN(BN(RepConv(S))); out = BN(RepConv(attention))."""

    def __init__(self, c: int, heads: int = 8, variant: str = "v2", scale: float | None = None):
        super().__init__()
        if variant not in SDSA_VARIANTS:
            raise ConfigError(f"unknown SDSA variant {variant!r}; choose one of {', '.join(SDSA_VARIANTS)}")
        if c % heads:
            raise ConfigError(f"SDSA: {c} channels do not split into {heads} heads")
        self.heads = heads
        self.variant = variant
        self.scale = SDSA_DEFAULT_SCALE[variant] if scale is None else scale
        self.sn = SpikingNeuron()
        self.q_conv, self.k_conv, self.v_conv = RepConv(c, c), RepConv(c, c), RepConv(c, c)
        self.q_bn, self.k_bn, self.v_bn = bn(c), bn(c), bn(c)
        for norm in (self.q_bn, self.k_bn, self.v_bn):
            # Start Q, K, V at a high firing rate so attention is not silent at
            # init: a silent attention neuron feeds all-zero batches to the
            # projection's BatchNorms, whose backward then scales gradients by
            # 1/sqrt(eps) each and swamps every other learning signal.
            torch.nn.init.constant_(norm.bias, QKV_BN_INIT_SHIFT)
        self.q_sn, self.k_sn, self.v_sn = SpikingNeuron(), SpikingNeuron(), SpikingNeuron()
        self.attn_sn = SpikingNeuron(threshold=fx.ATTENTION_THRESHOLD)
        self.proj_conv = RepConv(c, c)
        self.proj_bn = bn(c)
        self.last_rate: float | None = None

    def forward(self, x):
        n, c, h, w, t = x.shape
        s = self.sn(x)
        q = self.q_sn(self.q_bn(self.q_conv(s))).reshape(n, c, h * w, t)
        k = self.k_sn(self.k_bn(self.k_conv(s))).reshape(n, c, h * w, t)
        v = self.v_sn(self.v_bn(self.v_conv(s))).reshape(n, c, h * w, t)
        a = sdsa_attention(q, k, v, self.variant, self.heads, self.scale, self.attn_sn)
        self.last_rate = float(a.detach().mean())  # the attention's output spikes (V1: masked Q or V)
        return self.proj_bn(self.proj_conv(a.reshape(n, c, h, w, t)))

    def extra_repr(self) -> str:
        return f"variant={self.variant}, heads={self.heads}, scale={self.scale}"


class TransformerBlock(torch.nn.Module):
    """Transformer-based SNN block: U' = U + SDSA(U); U'' = U' + ChannelMLP(U')."""

    def __init__(self, c: int, heads: int, mlp_ratio: int = 4, sdsa: str = "v2"):
        super().__init__()
        self.sdsa = SDSA(c, heads, sdsa)
        self.mlp = ChannelMLP(c, mlp_ratio)

    def forward(self, x):
        x = x + self.sdsa(x)
        return x + self.mlp(x)


class Downsample(torch.nn.Module):
    """[SN ->] conv k x k (stride s, with bias) -> BN. The stem has no SN: its
    input is real-valued pixels (or event frames)."""

    def __init__(self, c_in, c_out, kernel=3, stride=2, padding=1, spiking_input=True):
        super().__init__()
        self.sn = SpikingNeuron() if spiking_input else None
        self.conv = conv(c_in, c_out, kernel, stride=stride, padding=padding, bias=True)
        self.bn = bn(c_out)

    def forward(self, x):
        if self.sn is not None:
            x = self.sn(x)
        return self.bn(self.conv(x))


class Head(torch.nn.Module):
    """Mean over tokens -> SN -> linear (with bias). Output (N, classes, T)."""

    def __init__(self, c: int, num_classes: int):
        super().__init__()
        self.sn = SpikingNeuron()
        self.fc = synapse.Dense(c, num_classes)
        self.fc.bias = torch.nn.Parameter(torch.zeros(num_classes))

    def forward(self, x):
        return self.fc(self.sn(x.mean(dim=(2, 3))))
