"""Class-embedding interpolation (CSC413, part 3): draw a class "between" two others.

A conditional generator maps a class to an embedding r that all its conditional BN layers read.
r = α·r_A + (1 − α)·r_B for α from 1 to 0 walks from class A to class B with z held fixed.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ganlab.errors import GanlabError
from ganlab.sampling import to_uint8


def resolve_class(name_or_id: str | int, classes: list[str], *, what: str) -> int:
    """A class id (0, "3") or name ("Sneaker", "ankle boot") -> its id, or a clear error."""
    text = str(name_or_id).strip()
    if text.lstrip("-").isdigit():
        index = int(text)
        if 0 <= index < len(classes):
            return index
    else:
        for index, name in enumerate(classes):
            if name.casefold() == text.casefold():
                return index
    names = ", ".join(f"{i}={c}" for i, c in enumerate(classes))
    raise GanlabError(f"{what}: unknown class {name_or_id!r}; expected an id or a name among {names}")


def alphas(steps: int) -> list[float]:
    """1 (class A) down to 0 (class B) in `steps` columns."""
    return [1.0 - j / (steps - 1) for j in range(steps)]


@torch.inference_mode()
def interpolate_latents(generator: nn.Module, *, steps: int, rows: int, seed: int) -> Tensor:
    """For an unconditional generator: row i walks z = α·z_A + (1 − α)·z_B between two latents
    of its own (uint8, row-major like `interpolate_classes`)."""
    generator.eval()
    device = next(generator.parameters()).device
    rng = torch.Generator(device=device).manual_seed(seed)
    z_a, z_b = torch.randn(2, rows, 1, generator.z_dim, generator=rng, device=device)
    mix = torch.tensor(alphas(steps), device=device)[None, :, None]
    z = (mix * z_a + (1.0 - mix) * z_b).flatten(0, 1)
    labels = torch.zeros(len(z), dtype=torch.long, device=device) if generator.num_classes else None
    return to_uint8(generator(z, labels))


@torch.inference_mode()
def interpolate_classes(generator: nn.Module, *, a: int, b: int, steps: int, rows: int, seed: int) -> Tensor:
    """uint8 (rows·steps)×3×R×R, row-major: row i keeps one z, column j has α = alphas(steps)[j]."""
    if not generator.num_classes:
        raise GanlabError("class interpolation needs a conditional generator; this one is unconditional")
    if a == b:
        raise GanlabError(f"class interpolation needs two different classes, found {a} twice")
    if steps < 2:
        raise GanlabError(f"--steps {steps}: expected at least 2 (the two classes themselves)")
    if rows < 1:
        raise GanlabError(f"--rows {rows}: expected at least 1")
    generator.eval()
    device = next(generator.parameters()).device
    z = torch.randn(rows, generator.z_dim, generator=torch.Generator(device=device).manual_seed(seed), device=device)
    r_a, r_b = generator.class_embedding(torch.tensor([a, b], device=device))
    mix = torch.tensor(alphas(steps), device=device)[:, None]
    embeddings = mix * r_a + (1.0 - mix) * r_b  # steps × embed_dim
    z_all = z.repeat_interleave(steps, dim=0)
    return to_uint8(generator(z_all, embedding=embeddings.repeat(rows, 1)))
