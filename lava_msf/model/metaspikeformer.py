"""The Meta-SpikeFormer macro architecture (SDT-V2, Yao et al., ICLR 2024)."""

import torch

from ..errors import ShapeError
from ..tasks import decision_steps
from .layers import ConvBlock, Downsample, Head, TransformerBlock
from .neuron import check_mode, set_neuron_mode


class MetaSpikeFormer(torch.nn.Module):
    """stem -> stage 1..2 (Conv blocks) -> stage 3..4 (Transformer blocks) -> head.

    depths: Conv blocks at H/2 (after the stem), Conv blocks at H/4, Conv blocks
    at H/8, Transformer blocks at H/16, Transformer blocks after the stride-1
    downsample; the paper's models use (1, 1, 2, 6, 2).
    Input: (N, C, H, W) images, repeated over T steps, or (N, C, H, W, T)
    frames (e.g. event frames), one per step. forward() returns logits
    (N, classes) averaged over T (a dense task's config `readout` "last": the
    last step's); forward_steps() the per-step (N, classes, T).
    """

    def __init__(self, config: dict):
        super().__init__()
        self.config = dict(config)
        c = list(config["embed_dim"])
        d = list(config["depths"])
        heads, ratio, sdsa = config["heads"], config["mlp_ratio"], config["sdsa"]
        self.stem = Downsample(config["in_channels"], c[0] // 2, 7, 2, 3, spiking_input=False)
        self.stage1 = torch.nn.Sequential(
            *[ConvBlock(c[0] // 2, ratio) for _ in range(d[0])],
            Downsample(c[0] // 2, c[0]),
            *[ConvBlock(c[0], ratio) for _ in range(d[1])],
        )
        self.stage2 = torch.nn.Sequential(
            Downsample(c[0], c[1]), *[ConvBlock(c[1], ratio) for _ in range(d[2])]
        )
        self.stage3 = torch.nn.Sequential(
            Downsample(c[1], c[2]), *[TransformerBlock(c[2], heads, ratio, sdsa) for _ in range(d[3])]
        )
        self.stage4 = torch.nn.Sequential(
            Downsample(c[2], c[3], stride=1),
            *[TransformerBlock(c[3], heads, ratio, sdsa) for _ in range(d[4])],
        )
        self.head = Head(c[3], config["num_classes"])
        set_neuron_mode(self, check_mode(config["neuron"]))

    @property
    def timesteps(self) -> int:
        return self.config["timesteps"]

    def input_shape(self) -> tuple:
        size = self.config["img_size"]
        return (self.config["in_channels"], size, size)

    def _as_steps(self, x: torch.Tensor) -> torch.Tensor:
        expected = self.input_shape()
        if x.dim() == 4 and tuple(x.shape[1:]) == expected:
            return x.unsqueeze(-1).repeat(1, 1, 1, 1, self.timesteps)
        if x.dim() == 5 and tuple(x.shape[1:4]) == expected:
            return x
        raise ShapeError(
            f"{self.config['name']}: expected input (N, {', '.join(map(str, expected))}) "
            f"or (N, {', '.join(map(str, expected))}, T), got {tuple(x.shape)}"
        )

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(self._as_steps(x))
        return self.stage4(self.stage3(self.stage2(self.stage1(x))))

    def forward_steps(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_steps(x)[..., -decision_steps(self.config, self.timesteps):].mean(dim=-1)
