"""Mimicry's cGAN-PD 32 (github.com/kwotsin/mimicry, commit a7fda06) behind ganlab's
generator/discriminator interface, for the cSAGAN study's peer comparison. Mimicry is the
yardstick, not part of ganlab: its classes are imported from a checkout, never copied."""

from __future__ import annotations

import sys
from pathlib import Path

from torch import nn

from ganlab.config import SAGANConfig


def register_mimicry(checkout: str | None) -> None:
    """Add "mimicry" to ganlab's model and trainer dicts, built from Mimicry's own classes.

    Mimicry's package __init__ imports its TensorFlow metrics, so its modules are loaded under
    a bare parent package with only the files the networks need."""
    if not checkout:
        return
    import importlib.util
    import types

    root = Path(checkout) / "torch_mimicry"
    for package in ("torch_mimicry", "torch_mimicry.nets"):
        module = types.ModuleType(package)
        module.__path__ = [str(root / Path(*package.split(".")[1:]))]
        sys.modules[package] = module
    spec = importlib.util.find_spec("torch_mimicry.nets.cgan_pd.cgan_pd_32")
    cgan_pd_32 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cgan_pd_32)

    from ganlab.models import GAN, register
    from ganlab.training import families
    from ganlab.training.gan import NoiseGAN

    class MimicryGenerator(nn.Module):
        def __init__(self, *, z_dim: int, g_ch: int, num_classes: int) -> None:
            super().__init__()
            self.z_dim, self.num_classes, self.resolution = z_dim, num_classes, 32
            self.net = cgan_pd_32.CGANPDGenerator32(num_classes=num_classes, nz=z_dim, ngf=g_ch)

        @classmethod
        def from_config(cls, cfg: SAGANConfig, *, num_classes: int, resolution: int) -> MimicryGenerator:
            if resolution != 32 or not num_classes:
                raise SystemExit("Mimicry's cGAN-PD 32 needs 32-pixel images with classes")
            return cls(z_dim=cfg.z_dim, g_ch=cfg.g_ch, num_classes=num_classes)

        def forward(self, z, labels=None):
            return self.net(z, labels)

    class MimicryDiscriminator(nn.Module):
        def __init__(self, *, d_ch: int, num_classes: int) -> None:
            super().__init__()
            self.net = cgan_pd_32.CGANPDDiscriminator32(num_classes=num_classes, ndf=d_ch)

        @classmethod
        def from_config(cls, cfg: SAGANConfig, *, num_classes: int, resolution: int) -> MimicryDiscriminator:
            return cls(d_ch=cfg.d_ch, num_classes=num_classes)

        def forward(self, x, labels=None):
            return self.net(x, labels).flatten()

    register("mimicry", GAN(SAGANConfig, MimicryGenerator, MimicryDiscriminator))
    families.register("mimicry", NoiseGAN)
