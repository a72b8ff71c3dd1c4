"""Model registries: a params section name -> its networks' classes. MODELS generate from noise
(and a class); TRANSLATORS map images of one domain to another."""

from __future__ import annotations

from typing import NamedTuple

from torch import nn

from ganlab.config import CycleGANConfig, DCGANConfig, GANConfig, SAGANConfig
from ganlab.models.cyclegan import PatchDiscriminator, ResnetTranslator
from ganlab.models.dcgan import DCGANDiscriminator, DCGANGenerator
from ganlab.models.sagan import SAGANDiscriminator, SAGANGenerator


class GAN(NamedTuple):
    config: type[GANConfig]
    generator: type[nn.Module]
    discriminator: type[nn.Module]


MODELS: dict[str, GAN] = {
    "dcgan": GAN(DCGANConfig, DCGANGenerator, DCGANDiscriminator),
    "sagan": GAN(SAGANConfig, SAGANGenerator, SAGANDiscriminator),
}


class Translation(NamedTuple):
    config: type[CycleGANConfig]
    translator: type[nn.Module]
    discriminator: type[nn.Module]


TRANSLATORS: dict[str, Translation] = {
    "cyclegan": Translation(CycleGANConfig, ResnetTranslator, PatchDiscriminator),
}


def build_generator(name: str, cfg: GANConfig, *, num_classes: int, resolution: int) -> nn.Module:
    return MODELS[name].generator.from_config(cfg, num_classes=num_classes, resolution=resolution)


def build_discriminator(name: str, cfg: GANConfig, *, num_classes: int, resolution: int) -> nn.Module:
    return MODELS[name].discriminator.from_config(cfg, num_classes=num_classes, resolution=resolution)
