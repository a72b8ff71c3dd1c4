"""DCGAN for 32×32 images (Radford et al. 2016), unconditional."""

from __future__ import annotations

from torch import Tensor, nn

from ganlab.config import GANConfig


def _init_dcgan(module: nn.Module) -> None:
    # The paper's init: N(0, 0.02) weights, BN gains around 1.
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class DCGANGenerator(nn.Module):
    def __init__(self, *, z_dim: int, g_ch: int) -> None:
        super().__init__()
        self.z_dim, self.num_classes = z_dim, 0
        self.net = nn.Sequential(
            nn.ConvTranspose2d(z_dim, g_ch * 4, 4, 1, 0, bias=False),  # z×1×1 -> 4g×4×4
            nn.BatchNorm2d(g_ch * 4),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(g_ch * 4, g_ch * 2, 4, 2, 1, bias=False),  # -> 2g×8×8
            nn.BatchNorm2d(g_ch * 2),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(g_ch * 2, g_ch, 4, 2, 1, bias=False),  # -> g×16×16
            nn.BatchNorm2d(g_ch),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(g_ch, 3, 4, 2, 1),  # -> 3×32×32
            nn.Tanh(),
        )
        self.apply(_init_dcgan)

    @classmethod
    def from_config(cls, cfg: GANConfig, *, num_classes: int) -> DCGANGenerator:
        return cls(z_dim=cfg.z_dim, g_ch=cfg.g_ch)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.net(z[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    def __init__(self, *, d_ch: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, d_ch, 4, 2, 1),  # 3×32×32 -> d×16×16 (no BN on the input layer)
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(d_ch, d_ch * 2, 4, 2, 1, bias=False),  # -> 2d×8×8
            nn.BatchNorm2d(d_ch * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(d_ch * 2, d_ch * 4, 4, 2, 1, bias=False),  # -> 4d×4×4
            nn.BatchNorm2d(d_ch * 4),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(d_ch * 4, 1, 4, 1, 0),  # -> 1×1×1 logit
        )
        self.apply(_init_dcgan)

    @classmethod
    def from_config(cls, cfg: GANConfig, *, num_classes: int) -> DCGANDiscriminator:
        return cls(d_ch=cfg.d_ch)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.net(x).flatten()
