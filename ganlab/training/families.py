"""Model families: the params section a run trains (`train.py --model NAME`) -> the class that
trains it; a translation section names its family in its `model` key (cyclegan | cut). The
loop looks a family up here and knows nothing else about it.

A family is a class built as `Family(name=, cfg=, splits=, seed=, device=, world=)` that
satisfies `Trainer`: it declares the prepared splits it trains on (`data_roles`) and the values
its step returns (`stats`), and it may add values of its own to every log row (`log_values`).
`register(name, Family)` makes it trainable; a study's peer model registers the same way
(its networks through `ganlab.models.register`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from torch import Tensor

from ganlab.errors import GanlabError
from ganlab.training.cut import CUT
from ganlab.training.cyclegan import CycleGAN
from ganlab.training.gan import NoiseGAN
from ganlab.training.state import TrainState


class Trainer(Protocol):
    """A model family as the training loop sees it: its state, and its own iteration."""

    data_roles: tuple[str, ...]  # the prepared training splits it takes, in order
    stats: tuple[str, ...]  # names of what `step` returns, in order; loss_d and loss_g first
    state: TrainState

    def step(self) -> Tensor:
        """One iteration: every D and G update and the EMA; detached stats on the device."""
        ...

    def log_values(self) -> dict[str, Tensor]:
        """Values of its own for the log row (0-d tensors), beside `stats` and the learning rates."""
        ...

    def save_snapshot(self, path: Path, *, config: dict, iteration: int, seed: int) -> None:
        """Write what scoring and sampling need (sampling networks only) to `path`."""
        ...

    def preview(self, snapshot: Path, *, seed: int) -> Tensor:
        """What the snapshot at `snapshot` makes of fixed inputs: uint8 images, 8 to a row."""
        ...


FAMILIES: dict[str, type] = {}
REQUIRED = ("data_roles", "stats", "log_values", "save_snapshot", "preview")  # `step` may be set per instance


def register(name: str, family: type, *, replace: bool = False) -> type:
    """Make params section `name` trainable by `family`; returns `family`. A name is registered
    once: registering another class under it is an error unless `replace`."""
    missing = [attr for attr in REQUIRED if not hasattr(family, attr)]
    if missing:
        raise GanlabError(f"model family {family.__name__} for {name!r} lacks {', '.join(missing)} (see Trainer)")
    stats = tuple(family.stats)
    if stats[:2] != ("loss_d", "loss_g"):
        raise GanlabError(f"model family {family.__name__}: stats must start with loss_d, loss_g; found {stats}")
    known = FAMILIES.get(name)
    if known is not None and known is not family and not replace:
        raise GanlabError(f"model {name!r} is already trained by {known.__name__}; pass replace=True to swap it")
    FAMILIES[name] = family
    return family


def family_of(name: str) -> type:
    if name not in FAMILIES:
        raise GanlabError(f"unknown model {name!r}; registered: {', '.join(sorted(FAMILIES))}")
    return FAMILIES[name]


register("dcgan", NoiseGAN)
register("sagan", NoiseGAN)
register("cyclegan", CycleGAN)
register("cut", CUT)  # by the translation section's `model` key
