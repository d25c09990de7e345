"""Dense-prediction heads on the Meta-SpikeFormer backbone (the paper's
versatility claim): an FPN-style spiking decoder over the stage outputs at
strides 16, 8 and 4, ending in ONE per-location output layer at stride 4.

Spike-driven as the backbone: every branch starts with an SN, levels meet by
membrane shortcuts (sums of currents), upsampling is a learned 2x2 stride-2
transposed conv; so the graph uses only conv, convT, neuron and merge layers.

- segment: classes + 1 (background) logits per stride-4 cell; the host
  upsamples them bilinearly to the input size (lava_msf.tasks.segmentation).
- detect: CenterNet-style anchor-free head, per cell `classes` center-heatmap
  logits and 4 box values (center offset x, y; log width, log height, in
  cells); the host decodes peaks and runs NMS (lava_msf.tasks.detection).
"""

import math

import torch
import torch.nn.functional as F

from ..tasks.detection import BOX_CHANNELS
from .layers import Downsample, as_frames, bn, conv, from_frames
from .metaspikeformer import MetaSpikeFormer
from .neuron import SpikingNeuron, check_mode, set_neuron_mode

TASKS = ("classify", "detect", "segment")
OUTPUT_STRIDE = 4
HEATMAP_PRIOR = 0.1  # CenterNet's initial center probability: the focal loss starts at a sane size


def output_channels(task: str, num_classes: int) -> int:
    return num_classes + 1 if task == "segment" else num_classes + BOX_CHANNELS


class ConvT(torch.nn.Module):
    """A transposed conv synapse (weight (in, out, k, k) as torch's, with bias)
    on the N*T frames."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 2, stride: int = 2):
        super().__init__()
        self.stride = stride
        self.weight = torch.nn.Parameter(torch.empty(c_in, c_out, kernel, kernel))
        torch.nn.init.kaiming_uniform_(self.weight, a=5 ** 0.5)
        self.bias = torch.nn.Parameter(torch.zeros(c_out))

    def forward(self, x):
        return from_frames(F.conv_transpose2d(as_frames(x), self.weight, self.bias, self.stride), x.shape[-1])


class Upsample(torch.nn.Module):
    """SN -> convT 2x2 stride 2 (with bias) -> BN: a level's current at twice the size."""

    def __init__(self, c: int):
        super().__init__()
        self.sn = SpikingNeuron()
        self.up = ConvT(c, c)
        self.bn = bn(c)

    def forward(self, x):
        return self.bn(self.up(self.sn(x)))


class DenseHead(torch.nn.Module):
    """SN -> 3x3 conv -> BN -> SN -> 1x1 conv (with bias): per-cell outputs."""

    def __init__(self, c: int, out: int):
        super().__init__()
        self.sn1 = SpikingNeuron()
        self.conv = conv(c, c, 3, padding=1)
        self.bn = bn(c)
        self.sn2 = SpikingNeuron()
        self.out = conv(c, out, 1, bias=True)

    def forward(self, x):
        return self.out(self.sn2(self.bn(self.conv(self.sn1(x)))))


class FPNDecoder(torch.nn.Module):
    """p16 = L16(u16); p8 = L8(u8) + Up(p16); p4 = L4(u4) + Up(p8); out = Head(p4).
    L: lateral SN -> 1x1 conv -> BN; '+' a membrane shortcut."""

    def __init__(self, widths: tuple, width: int, out: int):
        super().__init__()
        c4, c8, c16 = widths
        self.lateral16 = Downsample(c16, width, 1, 1, 0)
        self.lateral8 = Downsample(c8, width, 1, 1, 0)
        self.lateral4 = Downsample(c4, width, 1, 1, 0)
        self.up16 = Upsample(width)
        self.up8 = Upsample(width)
        self.head = DenseHead(width, out)

    def forward(self, u4, u8, u16):
        p8 = self.lateral8(u8) + self.up16(self.lateral16(u16))
        p4 = self.lateral4(u4) + self.up8(p8)
        return self.head(p4)


class DenseMetaSpikeFormer(MetaSpikeFormer):
    """The backbone with an FPN decoder instead of the classification head.
    forward_steps() gives (N, K, H/4, W/4, T); forward() its mean over T."""

    def __init__(self, config: dict):
        super().__init__(config)
        c = config["embed_dim"]
        self.head = FPNDecoder((c[0], c[1], c[3]), config["decoder_width"],
                               output_channels(config["task"], config["num_classes"]))
        if config["task"] == "detect":
            with torch.no_grad():
                self.head.head.out.bias[:config["num_classes"]] = math.log(HEATMAP_PRIOR / (1 - HEATMAP_PRIOR))
        set_neuron_mode(self, check_mode(config["neuron"]))

    def stage_outputs(self, x: torch.Tensor):
        """The backbone's membrane streams at strides 4, 8 and 16."""
        u4 = self.stage1(self.stem(self._as_steps(x)))
        u8 = self.stage2(u4)
        return u4, u8, self.stage4(self.stage3(u8))

    def forward_steps(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(*self.stage_outputs(x))
