"""Network registries: a params section name -> its networks' classes. MODELS generate from noise
(and a class); TRANSLATORS map images of one domain to another. `register` fills both; the
family that trains a name registers in ganlab.training.families."""

from __future__ import annotations

from typing import NamedTuple

from torch import nn

from ganlab.config import CycleGANConfig, DCGANConfig, GANConfig, SAGANConfig
from ganlab.errors import GanlabError
from ganlab.models.cyclegan import PatchDiscriminator, ResnetTranslator
from ganlab.models.dcgan import DCGANDiscriminator, DCGANGenerator
from ganlab.models.sagan import SAGANDiscriminator, SAGANGenerator


class GAN(NamedTuple):
    config: type[GANConfig]
    generator: type[nn.Module]
    discriminator: type[nn.Module]


MODELS: dict[str, GAN] = {}


class Translation(NamedTuple):
    config: type[CycleGANConfig]
    translator: type[nn.Module]
    discriminator: type[nn.Module]


TRANSLATORS: dict[str, Translation] = {}


def register(name: str, networks: GAN | Translation, *, replace: bool = False) -> None:
    """Networks for params section `name`: each class has `from_config(cfg, ...)`. A name is
    registered once unless `replace`."""
    registry = MODELS if isinstance(networks, GAN) else TRANSLATORS if isinstance(networks, Translation) else None
    if registry is None:
        raise GanlabError(f"networks for {name!r}: expected a GAN or a Translation, found {type(networks).__name__}")
    for cls in networks[1:]:
        if not hasattr(cls, "from_config"):
            raise GanlabError(f"networks for {name!r}: {cls.__name__} has no from_config(cfg, ...)")
    known = MODELS.get(name) or TRANSLATORS.get(name)
    if known is not None and known != networks and not replace:
        raise GanlabError(f"networks for {name!r} are already registered; pass replace=True to swap them")
    MODELS.pop(name, None), TRANSLATORS.pop(name, None)
    registry[name] = networks


register("dcgan", GAN(DCGANConfig, DCGANGenerator, DCGANDiscriminator))
register("sagan", GAN(SAGANConfig, SAGANGenerator, SAGANDiscriminator))
register("cyclegan", Translation(CycleGANConfig, ResnetTranslator, PatchDiscriminator))


def build_generator(name: str, cfg: GANConfig, *, num_classes: int, resolution: int) -> nn.Module:
    return MODELS[name].generator.from_config(cfg, num_classes=num_classes, resolution=resolution)


def build_discriminator(name: str, cfg: GANConfig, *, num_classes: int, resolution: int) -> nn.Module:
    return MODELS[name].discriminator.from_config(cfg, num_classes=num_classes, resolution=resolution)
