"""GAN losses as pure functions of discriminator outputs.

Each loss is a pair (d_loss(real_logits, fake_logits), g_loss(fake_logits)); both return a
scalar to minimise. The gradient penalty needs the discriminator itself, so it lives apart
and any loss can add it (params: `gp_weight`).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.attention import SDPBackend, sdpa_kernel

from ganlab.nn.layers import at_least_fp32


def d_loss_bce(real: Tensor, fake: Tensor) -> Tensor:
    # softplus(-x) == -log(sigmoid(x)), computed without overflow for large |x|.
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def g_loss_bce(fake: Tensor) -> Tensor:
    # Non-saturating: maximise log D(G(z)) rather than minimise log(1 - D(G(z))).
    return F.softplus(-fake).mean()


def d_loss_hinge(real: Tensor, fake: Tensor) -> Tensor:
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def g_loss_hinge(fake: Tensor) -> Tensor:
    return -fake.mean()


def d_loss_wasserstein(real: Tensor, fake: Tensor) -> Tensor:
    return fake.mean() - real.mean()


def g_loss_wasserstein(fake: Tensor) -> Tensor:
    return -fake.mean()


def d_loss_lsgan(real: Tensor, fake: Tensor) -> Tensor:
    # Least squares (Mao et al. 2017) with targets 1 for real and 0 for fake.
    return 0.5 * (real - 1.0).pow(2).mean() + 0.5 * fake.pow(2).mean()


def g_loss_lsgan(fake: Tensor) -> Tensor:
    return 0.5 * (fake - 1.0).pow(2).mean()


def gradient_penalty(
    discriminator: Callable[[Tensor, Tensor | None], Tensor],
    real: Tensor,
    fake: Tensor,
    labels: Tensor | None,
    alpha: Tensor,
) -> Tensor:
    """WGAN-GP: E[(||grad D(x_hat)||_2 - 1)^2] on x_hat = alpha*real + (1-alpha)*fake.

    `alpha` (N×1×1×1 in [0, 1]) is passed in so the caller owns every random draw. D runs with
    the math attention kernel: the penalty needs a double backward, which the fused
    scaled-dot-product kernels do not implement (pytorch#116350), on CUDA for cSAGAN's shapes
    and on the CPU when query and value widths match.
    """
    x_hat = (alpha * real + (1.0 - alpha) * fake).requires_grad_(True)
    with sdpa_kernel(SDPBackend.MATH):
        out = discriminator(x_hat, labels)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(2, dim=1) - 1.0).pow(2).mean()


def mode_seeking_penalty(images: Tensor, z: Tensor, eps: float = 1e-5) -> Tensor:
    """MSGAN's mode-seeking term (Mao et al. 2019), added to G's loss with weight `mode_seeking`.

    Rows 2i and 2i+1 are one pair: two latents for the same class. The term is the inverse of
    how far apart the pair's images are per unit of latent distance (mean absolute differences,
    as in the authors' code), so G pays for mapping different z of one class onto one image,
    the collapse within a class that a conditional G falls into when it ignores z.
    """
    if len(images) % 2 or len(images) != len(z):
        raise ValueError(f"expected an even number of images, one per latent; found {len(images)} and {len(z)}")
    image_gap = (images[0::2] - images[1::2]).abs().mean()
    latent_gap = (z[0::2] - z[1::2]).abs().mean()
    return 1.0 / (image_gap / latent_gap + eps)


def patch_nce(query: Tensor, key: Tensor, *, images: int, temperature: float) -> Tensor:
    """CUT's PatchNCE (Park et al. 2020, eq. 2): each patch embedding of the translation (`query`)
    must pick out the embedding at the same location of its source (`key`, detached: the
    reference's choice) among the other locations of the same image.

    query, key: (images·P)×D unit vectors, P locations per image in the same order. A softmax
    cross-entropy over P candidates at temperature τ, averaged over every location; the
    negatives are the image's own other patches (the reference's default for unpaired data).
    log P is the value of a query that does not tell its location apart from the others."""
    # fp32 at least (bf16 upcast, fp64 kept): the dot products are divided by τ, which magnifies rounding
    q = at_least_fp32(query).unflatten(0, (images, -1))  # B×P×D
    k = at_least_fp32(key).detach().unflatten(0, (images, -1))
    logits = q @ k.transpose(1, 2) / temperature  # B×P×P; [b, i, j] = q_i·k_j / τ, positives on the diagonal
    targets = torch.arange(q.shape[1], device=q.device).expand(images, -1)
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten())


class Loss(NamedTuple):
    d_loss: Callable[[Tensor, Tensor], Tensor]
    g_loss: Callable[[Tensor], Tensor]


LOSSES: dict[str, Loss] = {
    "bce": Loss(d_loss_bce, g_loss_bce),
    "hinge": Loss(d_loss_hinge, g_loss_hinge),
    "wasserstein": Loss(d_loss_wasserstein, g_loss_wasserstein),
    "lsgan": Loss(d_loss_lsgan, g_loss_lsgan),
}
