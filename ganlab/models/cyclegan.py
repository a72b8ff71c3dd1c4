"""CycleGAN's networks (Zhu et al. 2017): a ResNet translator and a PatchGAN discriminator.

The translator is CycleGAN's `resnet_*blocks` generator (Johnson et al.'s layout, as in the
CSC413 assignment's CycleGenerator): a conv encoder down to R/4, `n_res_blocks` residual blocks
there, and a transposed-conv decoder back to R. Instance norm, not batch norm: the statistics
are per image, so a translation does not depend on the rest of its batch, and there are no
running statistics to keep in step (EMA, several processes).

The discriminator scores overlapping patches, one logit per cell of a small grid, so it judges
local texture and style and leaves the global layout to the cycle loss. The patch is 70 px at
64 and 128 pixels (CycleGAN's 70×70 PatchGAN, 3 stride-2 layers) and 34 px at 32 pixels
(2 stride-2 layers), so it never covers the whole image.
"""

from __future__ import annotations

from torch import Tensor, nn

from ganlab.config import CycleGANConfig

# Stride-2 layers of the patch discriminator at each resolution (receptive field 34 or 70 px).
PATCH_LAYERS = {32: 2, 64: 3, 128: 3}


def _init_cyclegan(module: nn.Module) -> None:
    # CycleGAN's "normal" init: N(0, 0.02) conv weights, zero biases.
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def _norm(ch: int) -> nn.Module:
    return nn.InstanceNorm2d(ch, affine=False, track_running_stats=False)


class ResidualBlock(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        # Reflection padding: zero padding makes the borders of a translated image darker.
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(ch, ch, 3, bias=True),
            _norm(ch),
            nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(ch, ch, 3, bias=True),
            _norm(ch),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class ResnetTranslator(nn.Module):
    """3×R×R image in [-1, 1] -> 3×R×R image in [-1, 1]."""

    def __init__(self, *, ch: int, n_res_blocks: int, resolution: int) -> None:
        super().__init__()
        self.resolution = resolution
        self.net = nn.Sequential(
            nn.ReflectionPad2d(3),
            nn.Conv2d(3, ch, 7),  # 3×R×R -> ch×R×R
            _norm(ch),
            nn.ReLU(inplace=True),
            nn.Conv2d(ch, 2 * ch, 3, 2, 1),  # -> 2ch×R/2×R/2
            _norm(2 * ch),
            nn.ReLU(inplace=True),
            nn.Conv2d(2 * ch, 4 * ch, 3, 2, 1),  # -> 4ch×R/4×R/4
            _norm(4 * ch),
            nn.ReLU(inplace=True),
            *[ResidualBlock(4 * ch) for _ in range(n_res_blocks)],  # 4ch×R/4×R/4
            nn.ConvTranspose2d(4 * ch, 2 * ch, 3, 2, 1, output_padding=1),  # -> 2ch×R/2×R/2
            _norm(2 * ch),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(2 * ch, ch, 3, 2, 1, output_padding=1),  # -> ch×R×R
            _norm(ch),
            nn.ReLU(inplace=True),
            nn.ReflectionPad2d(3),
            nn.Conv2d(ch, 3, 7),  # -> 3×R×R
            nn.Tanh(),
        )
        self.apply(_init_cyclegan)

    @classmethod
    def from_config(cls, cfg: CycleGANConfig) -> ResnetTranslator:
        return cls(ch=cfg.g_ch, n_res_blocks=cfg.n_res_blocks, resolution=cfg.resolution)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class PatchDiscriminator(nn.Module):
    """3×R×R image -> 1×P×P logits, one per overlapping patch (P = 6 at 32 px, 6 at 64, 14 at 128)."""

    def __init__(self, *, ch: int, resolution: int) -> None:
        super().__init__()
        n_down = PATCH_LAYERS[resolution]
        layers = [nn.Conv2d(3, ch, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]  # 3×R×R -> ch×R/2 (no norm)
        width = ch
        for _ in range(n_down - 1):  # each: w×s×s -> 2w×s/2×s/2
            layers += [nn.Conv2d(width, 2 * width, 4, 2, 1), _norm(2 * width), nn.LeakyReLU(0.2, inplace=True)]
            width *= 2
        layers += [
            nn.Conv2d(width, 2 * width, 4, 1, 1),  # -> 2w×(s-1)×(s-1)
            _norm(2 * width),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(2 * width, 1, 4, 1, 1),  # -> 1×(s-2)×(s-2) patch logits
        ]
        self.net = nn.Sequential(*layers)
        self.apply(_init_cyclegan)

    @classmethod
    def from_config(cls, cfg: CycleGANConfig) -> PatchDiscriminator:
        return cls(ch=cfg.d_ch, resolution=cfg.resolution)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)
