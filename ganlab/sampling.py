"""Device choice, latent sampling and uint8 quantization, shared by training, FID and plots."""

from __future__ import annotations

from typing import Iterator

import torch
from torch import Tensor, nn

from ganlab.distributed import SINGLE, World
from ganlab.errors import GanlabError


def resolve_device(name: str) -> torch.device:
    """params `device` -> torch.device; `auto` prefers CUDA."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise GanlabError(f"device: {name!r} asked for, but CUDA is not available (use 'auto' or 'cpu')")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise GanlabError(f"device: {name!r} asked for, but only {torch.cuda.device_count()} GPU(s) exist")
    return device


def to_float(images: Tensor) -> Tensor:
    """uint8 [0, 255] -> float [-1, 1] (the default dtype, fp32 unless a test sets fp64), the
    generator's output range."""
    return images.to(torch.get_default_dtype()).div_(127.5).sub_(1.0)


def to_uint8(images: Tensor) -> Tensor:
    """float [-1, 1] -> uint8, the exact inverse of `to_float` on the 256 levels.

    Generated images go through this before FID so both sides carry the same quantization.
    """
    return images.add(1.0).mul_(127.5).round_().clamp_(0, 255).to(torch.uint8)


def random_labels(n: int, num_classes: int, *, generator: torch.Generator, device) -> Tensor | None:
    if not num_classes:
        return None
    return torch.randint(num_classes, (n,), generator=generator, device=device)


def balanced_labels(n: int, num_classes: int, *, device) -> Tensor | None:
    """0, 1, …, K-1, 0, 1, …: every class equally often (±1) for FID and grids."""
    if not num_classes:
        return None
    return torch.arange(n, device=device) % num_classes


def generate_batches(
    generator: nn.Module,
    *,
    n: int,
    batch_size: int,
    seed: int,
    device: torch.device,
    labels: Tensor | None = None,
    world: World = SINGLE,
) -> Iterator[Tensor]:
    """n uint8 images from `generator` in eval mode, `batch_size` at a time.

    z is drawn batch by batch from one seeded stream, so the same (seed, batch_size) always
    gives the same images. Conditional generators get class-balanced labels unless given
    `labels`. Under torchrun each rank yields only the batches `world` deals it, but draws every
    batch's z, so its batches are exactly those one process would make.
    """
    generator.eval()
    rng = torch.Generator(device=device).manual_seed(seed)
    if labels is None:
        labels = balanced_labels(n, generator.num_classes, device=device)
    for index, start in enumerate(range(0, n, batch_size)):
        count = min(batch_size, n - start)
        with torch.inference_mode():
            z = torch.randn(count, generator.z_dim, generator=rng, device=device)
            if not world.deals(index):
                continue
            y = labels[start : start + count].to(device) if labels is not None else None
            yield to_uint8(generator(z, y))


def generate(generator: nn.Module, **kwargs) -> Tensor:
    """All of `generate_batches` as one uint8 N×3×32×32 tensor."""
    return torch.cat(list(generate_batches(generator, **kwargs)))


def translate_batches(
    translator: nn.Module, images: Tensor, *, batch_size: int, device: torch.device
) -> Iterator[Tensor]:
    """uint8 images of one domain -> uint8 images of the other, `batch_size` at a time (eval mode).

    Deterministic: a translation has no latent to draw, so the same images give the same output."""
    translator.eval()
    for start in range(0, len(images), batch_size):
        with torch.inference_mode():
            x = to_float(images[start : start + batch_size].to(device))
            yield to_uint8(translator(x.contiguous(memory_format=torch.channels_last)))


def translate(translator: nn.Module, images: Tensor, **kwargs) -> Tensor:
    """All of `translate_batches` as one uint8 tensor, on the CPU."""
    return torch.cat([b.cpu() for b in translate_batches(translator, images, **kwargs)])
