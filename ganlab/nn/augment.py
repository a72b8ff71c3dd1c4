"""DiffAugment (Zhao et al. 2020): differentiable augmentations applied to every image D sees,
real and fake, in both the D and the G step, so D cannot memorise a small training set and G
still gets gradients through the augmentation.

Pure functions of the images and a torch.Generator: the training loop passes its own RNG, so a
resumed run draws the same augmentations as an uninterrupted one. Images are in [-1, 1].

In a distributed run each rank holds a slice of the global batch: the random numbers are drawn
for the whole batch and sliced (`World.draw`), so every image is augmented as one process would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from ganlab.distributed import SINGLE, World


@dataclass(frozen=True, kw_only=True)
class Draws:
    """Per-image random numbers for this rank's images, drawn for the whole global batch."""

    generator: torch.Generator
    world: World
    total: int

    def rand(self, x: Tensor) -> Tensor:
        values = torch.rand(self.total, 1, 1, 1, generator=self.generator, device=x.device, dtype=x.dtype)
        return self.world.draw(values)

    def randint(self, low: int, high: int, x: Tensor) -> Tensor:
        values = torch.randint(low, high, (self.total, 1, 1), generator=self.generator, device=x.device)
        return self.world.draw(values)


def color(x: Tensor, draws: Draws) -> Tensor:
    """Random brightness (±0.5), saturation (×0..2) and contrast (×0.5..1.5), per image."""
    x = x + (draws.rand(x) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (draws.rand(x) * 2.0) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (draws.rand(x) + 0.5) + mean


def translation(x: Tensor, draws: Draws, ratio: float = 0.125) -> Tensor:
    """Shift each image by up to `ratio` of its size in x and y, filling with zeros."""
    n, _, h, w = x.shape
    max_y, max_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = draws.randint(-max_y, max_y + 1, x)
    dx = draws.randint(-max_x, max_x + 1, x)
    rows = torch.arange(h, device=x.device)[None, :, None] + dy  # where each output pixel reads from
    cols = torch.arange(w, device=x.device)[None, None, :] + dx
    inside = ((rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)).unsqueeze(1)
    batch = torch.arange(n, device=x.device)[:, None, None]
    shifted = x.permute(0, 2, 3, 1)[batch, rows.clamp(0, h - 1), cols.clamp(0, w - 1)].permute(0, 3, 1, 2)
    return shifted * inside


def cutout(x: Tensor, draws: Draws, ratio: float = 0.5) -> Tensor:
    """Zero one square of `ratio` × the image size, centred anywhere on the image."""
    n, _, h, w = x.shape
    cut_h, cut_w = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = draws.randint(0, h, x)
    cx = draws.randint(0, w, x)
    rows = torch.arange(h, device=x.device)[None, :, None]
    cols = torch.arange(w, device=x.device)[None, None, :]
    y0, x0 = cy - cut_h // 2, cx - cut_w // 2
    cut = (rows >= y0) & (rows < y0 + cut_h) & (cols >= x0) & (cols < x0 + cut_w)
    return x * (~cut).unsqueeze(1).to(x.dtype)


AUGMENTATIONS: dict[str, Callable[[Tensor, Draws], Tensor]] = {
    "color": color,
    "translation": translation,
    "cutout": cutout,
}


def jitter_flip(x: Tensor, *, scale: float, flip: bool, generator: torch.Generator, world: World = SINGLE) -> Tensor:
    """CycleGAN's training-time augmentation of its inputs (not of what D sees): resize each image
    to `scale` × its size (the reference loads 286 px for 256-px crops: 286/256), crop a random
    window of the original size, and mirror it left-right with probability ½. Randomness from the
    training RNG, per image. `scale` 1 and `flip` False return `x` unchanged."""
    n, _, h, w = x.shape
    draws = Draws(generator=generator, world=world, total=n * world.size)
    big_h, big_w = round(h * scale), round(w * scale)
    if (big_h, big_w) != (h, w):
        # bicubic as the reference's PIL resize; clamped because bicubic overshoots [-1, 1]
        big = torch.nn.functional.interpolate(x, size=(big_h, big_w), mode="bicubic", align_corners=False)
        big = big.clamp(-1.0, 1.0)
        y0 = draws.randint(0, big_h - h + 1, x)  # [n, 1, 1]
        x0 = draws.randint(0, big_w - w + 1, x)
        rows = torch.arange(h, device=x.device)[None, :, None] + y0
        cols = torch.arange(w, device=x.device)[None, None, :] + x0
        batch = torch.arange(n, device=x.device)[:, None, None]
        x = big.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)
    if flip:
        mirror = draws.rand(x) < 0.5
        x = torch.where(mirror, x.flip(3), x)
    return x


def diff_augment(x: Tensor, policies: list[str], *, generator: torch.Generator, world: World = SINGLE) -> Tensor:
    """Apply `policies` in order (DiffAugment's order: color, translation, cutout) to this
    rank's slice `x` of a global batch."""
    draws = Draws(generator=generator, world=world, total=len(x) * world.size)
    for policy in policies:
        x = AUGMENTATIONS[policy](x, draws)
    return x
