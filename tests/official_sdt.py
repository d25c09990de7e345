"""Test oracle: the official SDT-V2 classifier (BICLab/Spike-Driven-Transformer-V2,
classification/models.py, Spiking_vit_MetaFormer), written independently of
lava_msf from the published code's semantics: its module names (so its
state_dict has the official keys), its (T, B, C, H, W) layout, spikingjelly's
MultiStepLIFNode(tau=2, detach_reset) and its eval forward. Used to check
lava_msf.import_official; not part of the package.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

SIGMOID_ALPHA = 4.0  # spikingjelly's surrogate.Sigmoid default
EMBED = {"15m": (64, 128, 256, 360), "8_384": (96, 192, 384, 480), "8_512": (128, 256, 512, 640),
         "8_768": (192, 384, 768, 960)}


class LIF(nn.Module):
    """spikingjelly MultiStepLIFNode(tau=2, decay_input=True, v_reset=0): H = V + (X - V)/tau,
    spike on H >= v_th, hard reset. Over the first (time) axis."""

    def __init__(self, v_threshold=1.0):
        super().__init__()
        self.v_threshold = v_threshold

    def forward(self, x):
        v, out = torch.zeros_like(x[0]), []
        for xt in x:
            h = v + (xt - v) / 2.0
            s = (h >= self.v_threshold).to(x.dtype)
            v = h * (1 - s)
            out.append(s)
        return torch.stack(out)


class SigmoidSpike(torch.autograd.Function):
    """spikingjelly's surrogate.Sigmoid: Heaviside(x) forward, sigmoid(alpha x)' backward."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        sg = torch.sigmoid(SIGMOID_ALPHA * x)
        return grad * SIGMOID_ALPHA * sg * (1 - sg)


class TrainingLIF(LIF):
    """spikingjelly's MultiStepLIFNode forward in training: surrogate sigmoid, detached reset."""

    def forward(self, x):
        v, out = torch.zeros_like(x[0]), []
        for xt in x:
            h = v + (xt - v) / 2.0
            s = SigmoidSpike.apply(h - self.v_threshold)
            v = h * (1 - s.detach())
            out.append(s)
        return torch.stack(out)


def frames(fn, x):
    """Apply a 2-D module to (T, B, ...) as the official code does: over T*B frames."""
    y = fn(x.flatten(0, 1))
    return y.reshape(x.shape[0], x.shape[1], *y.shape[1:])


class BNAndPadLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.bn = nn.BatchNorm2d(c)

    def forward(self, x):
        y = F.pad(self.bn(x), [1] * 4)
        pad = (self.bn.bias - self.bn.running_mean * self.bn.weight
               / torch.sqrt(self.bn.running_var + self.bn.eps)).view(1, -1, 1, 1)
        y[:, :, 0], y[:, :, -1] = pad[..., 0], pad[..., 0]
        y[:, :, :, 0], y[:, :, :, -1] = pad[..., 0], pad[..., 0]
        return y


class RepConv(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c_in, c_in, 1, bias=False), BNAndPadLayer(c_in), nn.Sequential(
            nn.Conv2d(c_in, c_in, 3, groups=c_in, bias=False), nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out)))

    def forward(self, x):
        return self.body(x)


class SepConv(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.lif1, self.lif2 = LIF(), LIF()
        self.pwconv1, self.bn1 = nn.Conv2d(dim, 2 * dim, 1, bias=False), nn.BatchNorm2d(2 * dim)
        self.dwconv = nn.Conv2d(2 * dim, 2 * dim, 7, padding=3, groups=2 * dim, bias=False)
        self.pwconv2, self.bn2 = nn.Conv2d(2 * dim, dim, 1, bias=False), nn.BatchNorm2d(dim)

    def forward(self, x):
        x = frames(lambda f: self.bn1(self.pwconv1(f)), self.lif1(x))
        return frames(lambda f: self.bn2(self.pwconv2(self.dwconv(f))), self.lif2(x))


class MS_ConvBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.Conv = SepConv(dim)
        self.lif1, self.lif2 = LIF(), LIF()
        self.conv1, self.bn1 = nn.Conv2d(dim, 4 * dim, 3, padding=1, bias=False), nn.BatchNorm2d(4 * dim)
        self.conv2, self.bn2 = nn.Conv2d(4 * dim, dim, 3, padding=1, bias=False), nn.BatchNorm2d(dim)

    def forward(self, x):
        x = self.Conv(x) + x
        y = frames(lambda f: self.bn1(self.conv1(f)), self.lif1(x))
        return x + frames(lambda f: self.bn2(self.conv2(f)), self.lif2(y))


class MS_MLP(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.fc1_conv, self.fc1_bn, self.fc1_lif = nn.Conv1d(dim, 4 * dim, 1), nn.BatchNorm1d(4 * dim), LIF()
        self.fc2_conv, self.fc2_bn, self.fc2_lif = nn.Conv1d(4 * dim, dim, 1), nn.BatchNorm1d(dim), LIF()

    def forward(self, x):
        t, b, c, h, w = x.shape
        y = frames(lambda f: self.fc1_bn(self.fc1_conv(f)), self.fc1_lif(x.flatten(3)))
        return frames(lambda f: self.fc2_bn(self.fc2_conv(f)), self.fc2_lif(y)).reshape(t, b, c, h, w)


class MS_Attention(nn.Module):
    def __init__(self, dim, heads=8):
        super().__init__()
        self.heads = heads
        self.head_lif, self.q_lif, self.k_lif, self.v_lif = LIF(), LIF(), LIF(), LIF()
        self.attn_lif = LIF(0.5)
        for name in ("q_conv", "k_conv", "v_conv", "proj_conv"):
            setattr(self, name, nn.Sequential(RepConv(dim, dim), nn.BatchNorm2d(dim)))

    def forward(self, x):
        t, b, c, h, w = x.shape
        x = self.head_lif(x)

        def heads(conv, lif):  # (T, B, heads, N, d)
            z = lif(frames(conv, x)).flatten(3).transpose(-1, -2)
            return z.reshape(t, b, h * w, self.heads, c // self.heads).permute(0, 1, 3, 2, 4)

        q, k, v = heads(self.q_conv, self.q_lif), heads(self.k_conv, self.k_lif), heads(self.v_conv, self.v_lif)
        a = (q @ (k.transpose(-2, -1) @ v)) * 0.125
        a = self.attn_lif(a.transpose(3, 4).reshape(t, b, c, h * w)).reshape(t, b, c, h, w)
        return frames(self.proj_conv, a)


class MS_Block(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.attn, self.mlp = MS_Attention(dim), MS_MLP(dim)

    def forward(self, x):
        x = x + self.attn(x)
        return x + self.mlp(x)


class MS_DownSampling(nn.Module):
    def __init__(self, c_in, c_out, kernel=3, stride=2, padding=1, first_layer=False):
        super().__init__()
        self.encode_conv = nn.Conv2d(c_in, c_out, kernel, stride, padding)
        self.encode_bn = nn.BatchNorm2d(c_out)
        self.encode_lif = None if first_layer else LIF()

    def forward(self, x):
        if self.encode_lif is not None:
            x = self.encode_lif(x)
        return frames(lambda f: self.encode_bn(self.encode_conv(f)), x)


class OfficialSDT(nn.Module):
    def __init__(self, variant="15m", in_channels=3, num_classes=1000, kd=False, T=1):
        super().__init__()
        c = EMBED[variant]
        self.T, self.kd = T, kd
        self.downsample1_1 = MS_DownSampling(in_channels, c[0] // 2, 7, 2, 3, first_layer=True)
        self.ConvBlock1_1 = nn.ModuleList([MS_ConvBlock(c[0] // 2)])
        self.downsample1_2 = MS_DownSampling(c[0] // 2, c[0])
        self.ConvBlock1_2 = nn.ModuleList([MS_ConvBlock(c[0])])
        self.downsample2 = MS_DownSampling(c[0], c[1])
        self.ConvBlock2_1 = nn.ModuleList([MS_ConvBlock(c[1])])
        self.ConvBlock2_2 = nn.ModuleList([MS_ConvBlock(c[1])])
        self.downsample3 = MS_DownSampling(c[1], c[2])
        self.block3 = nn.ModuleList([MS_Block(c[2]) for _ in range(6)])
        self.downsample4 = MS_DownSampling(c[2], c[3], stride=1)
        self.block4 = nn.ModuleList([MS_Block(c[3]) for _ in range(2)])
        self.lif = LIF()
        self.head = nn.Linear(c[3], num_classes)
        if kd:
            self.head_kd = nn.Linear(c[3], num_classes)

    def forward(self, x):
        x = x.unsqueeze(0).repeat(self.T, 1, 1, 1, 1)
        for m in [self.downsample1_1, *self.ConvBlock1_1, self.downsample1_2, *self.ConvBlock1_2,
                  self.downsample2, *self.ConvBlock2_1, *self.ConvBlock2_2, self.downsample3, *self.block3,
                  self.downsample4, *self.block4]:
            x = m(x)
        s = self.lif(x.flatten(3).mean(3))
        out = self.head(s).mean(0)
        return (out + self.head_kd(s).mean(0)) / 2 if self.kd else out


def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Trained-looking random weights and BN statistics, so that neurons fire."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.state_dict().items():
            if not p.is_floating_point():
                continue
            if name.endswith("running_var"):
                p.copy_(torch.rand(p.shape, generator=gen) * 0.5 + 0.5)
            elif name.endswith("running_mean"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
            elif p.dim() == 1:  # BN weight / bias, conv and linear bias
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3 + (1.0 if name.endswith("bn.weight") else 0.2))
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
    return model.eval()
