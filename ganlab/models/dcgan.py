"""DCGAN (Radford et al. 2016), unconditional, at 32, 64 or 128 pixels, with the CSC413
variants: `upsample: upconv` (Odena et al. 2016) and `spectral_norm` on the discriminator.

Both networks double or halve the size per layer between 4×4 and the image, and halve or double
the width with it, so at 64 pixels they are the paper's networks (G: 8g×4×4 -> 4g -> 2g -> g ->
3×64×64) and at 32 the same with the widest layer dropped."""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn.utils import parametrize

from ganlab.config import DCGANConfig
from ganlab.nn.layers import BatchNorm2d, sn


def _init_dcgan(module: nn.Module) -> None:
    # The paper's init: N(0, 0.02) weights, BN gains around 1. Spectral-normed layers keep
    # sn()'s init: W/σ(W) does not depend on the weights' scale.
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)) and not parametrize.is_parametrized(module):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def _up(in_ch: int, out_ch: int, *, upsample: str, bias: bool = False) -> nn.Module:
    """×2 upsampling. A stride-2 4×4 transposed conv overlaps unevenly (checkerboard
    artifacts); nearest ×2 followed by a 3×3 conv spreads every input pixel evenly."""
    if upsample == "deconv":
        return nn.ConvTranspose2d(in_ch, out_ch, 4, 2, 1, bias=bias)
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(in_ch, out_ch, 3, 1, 1, bias=bias))


def n_doublings(resolution: int) -> int:
    """How many ×2 steps lie between 4×4 and the image: 3 at 32, 4 at 64, 5 at 128."""
    return resolution.bit_length() - 3


class DCGANGenerator(nn.Module):
    def __init__(self, *, z_dim: int, g_ch: int, resolution: int = 32, upsample: str = "deconv") -> None:
        super().__init__()
        self.z_dim, self.num_classes, self.resolution = z_dim, 0, resolution
        ch = g_ch * 2 ** (n_doublings(resolution) - 1)  # 4g at 32, 8g at 64, 16g at 128
        layers = [
            nn.ConvTranspose2d(z_dim, ch, 4, 1, 0, bias=False),  # z×1×1 -> ch×4×4
            BatchNorm2d(ch),
            nn.ReLU(inplace=True),
        ]
        while ch > g_ch:  # each: ch×s×s -> ch/2×2s×2s, down to g×(R/2)×(R/2)
            layers += [_up(ch, ch // 2, upsample=upsample), BatchNorm2d(ch // 2), nn.ReLU(inplace=True)]
            ch //= 2
        layers += [_up(g_ch, 3, upsample=upsample, bias=True), nn.Tanh()]  # -> 3×R×R
        self.net = nn.Sequential(*layers)
        self.apply(_init_dcgan)

    @classmethod
    def from_config(cls, cfg: DCGANConfig, *, num_classes: int, resolution: int) -> DCGANGenerator:
        return cls(z_dim=cfg.z_dim, g_ch=cfg.g_ch, resolution=resolution, upsample=cfg.upsample)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.net(z[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    def __init__(self, *, d_ch: int, resolution: int = 32, spectral_norm: bool = False) -> None:
        super().__init__()
        # With spectral norm, D drops its BatchNorm (as SN-GAN's CNN does): BN divides by the
        # batch's std, a data-dependent gain that can undo the Lipschitz bound SN enforces,
        # and it couples the real and fake batches' scores.
        wrap = sn if spectral_norm else (lambda m: m)

        def norm(ch: int) -> nn.Module:
            return nn.Identity() if spectral_norm else BatchNorm2d(ch)

        layers = [
            wrap(nn.Conv2d(3, d_ch, 4, 2, 1)),  # 3×R×R -> d×(R/2)×(R/2) (no BN on the input layer)
            nn.LeakyReLU(0.2, inplace=True),
        ]
        ch = d_ch
        for _ in range(n_doublings(resolution) - 1):  # each: ch×s×s -> 2ch×(s/2)×(s/2), down to 4×4
            layers += [wrap(nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=spectral_norm)), norm(ch * 2)]
            layers += [nn.LeakyReLU(0.2, inplace=True)]
            ch *= 2
        layers.append(wrap(nn.Conv2d(ch, 1, 4, 1, 0)))  # ch×4×4 -> 1×1×1 logit
        self.net = nn.Sequential(*layers)
        self.apply(_init_dcgan)

    @classmethod
    def from_config(cls, cfg: DCGANConfig, *, num_classes: int, resolution: int) -> DCGANDiscriminator:
        return cls(d_ch=cfg.d_ch, resolution=resolution, spectral_norm=cfg.spectral_norm)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.net(x).flatten()
