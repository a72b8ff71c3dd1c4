"""DCGAN for 32×32 images (Radford et al. 2016), unconditional, with the CSC413 variants:
`upsample: upconv` (Odena et al. 2016) and `spectral_norm` on the discriminator."""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn.utils import parametrize

from ganlab.config import DCGANConfig
from ganlab.layers import BatchNorm2d, sn


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


class DCGANGenerator(nn.Module):
    def __init__(self, *, z_dim: int, g_ch: int, upsample: str = "deconv") -> None:
        super().__init__()
        self.z_dim, self.num_classes = z_dim, 0
        self.net = nn.Sequential(
            nn.ConvTranspose2d(z_dim, g_ch * 4, 4, 1, 0, bias=False),  # z×1×1 -> 4g×4×4
            BatchNorm2d(g_ch * 4),
            nn.ReLU(inplace=True),
            _up(g_ch * 4, g_ch * 2, upsample=upsample),  # -> 2g×8×8
            BatchNorm2d(g_ch * 2),
            nn.ReLU(inplace=True),
            _up(g_ch * 2, g_ch, upsample=upsample),  # -> g×16×16
            BatchNorm2d(g_ch),
            nn.ReLU(inplace=True),
            _up(g_ch, 3, upsample=upsample, bias=True),  # -> 3×32×32
            nn.Tanh(),
        )
        self.apply(_init_dcgan)

    @classmethod
    def from_config(cls, cfg: DCGANConfig, *, num_classes: int) -> DCGANGenerator:
        return cls(z_dim=cfg.z_dim, g_ch=cfg.g_ch, upsample=cfg.upsample)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.net(z[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    def __init__(self, *, d_ch: int, spectral_norm: bool = False) -> None:
        super().__init__()
        # With spectral norm, D drops its BatchNorm (as SN-GAN's CNN does): BN divides by the
        # batch's std, a data-dependent gain that can undo the Lipschitz bound SN enforces,
        # and it couples the real and fake batches' scores.
        wrap = sn if spectral_norm else (lambda m: m)

        def norm(ch: int) -> nn.Module:
            return nn.Identity() if spectral_norm else BatchNorm2d(ch)

        self.net = nn.Sequential(
            wrap(nn.Conv2d(3, d_ch, 4, 2, 1)),  # 3×32×32 -> d×16×16 (no BN on the input layer)
            nn.LeakyReLU(0.2, inplace=True),
            wrap(nn.Conv2d(d_ch, d_ch * 2, 4, 2, 1, bias=spectral_norm)),  # -> 2d×8×8
            norm(d_ch * 2),
            nn.LeakyReLU(0.2, inplace=True),
            wrap(nn.Conv2d(d_ch * 2, d_ch * 4, 4, 2, 1, bias=spectral_norm)),  # -> 4d×4×4
            norm(d_ch * 4),
            nn.LeakyReLU(0.2, inplace=True),
            wrap(nn.Conv2d(d_ch * 4, 1, 4, 1, 0)),  # -> 1×1×1 logit
        )
        self.apply(_init_dcgan)

    @classmethod
    def from_config(cls, cfg: DCGANConfig, *, num_classes: int) -> DCGANDiscriminator:
        return cls(d_ch=cfg.d_ch, spectral_norm=cfg.spectral_norm)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.net(x).flatten()
