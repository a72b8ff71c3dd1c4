"""Improved precision and recall (Kynkäänniemi et al. 2019) and density and coverage (Naeem et
al. 2020) of generated features against real ones, the four from one pass over the distances.

Each real image gets a ball reaching its k-th nearest real neighbour, each generated image one
reaching its k-th nearest generated neighbour:

    precision  the share of generated images inside some real ball (fidelity)
    recall     the share of real images inside some generated ball (variety)
    density    generated images counted once per real ball they fall in, over k·M (fidelity;
               1 for two samples of one distribution, robust to real outliers)
    coverage   the share of real balls holding at least one generated image (variety; robust
               to generated outliers)

The values equal torch-fidelity's `prc_features_to_metric` (precision, recall: "inside" is
d <= radius) and clovaai's `prdc.compute_prdc` (density, coverage: d < radius) on the same
features (tests/test_prdc.py). Computed here because the pipeline needs all four per checkpoint:
one float64 pass over blocks of the generated-by-real distances, with the real radii computed once
per reference, is faster than the two libraries together and needs memory for one block, not for
three N×N matrices (`python bench/prdc_speed.py`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

PRDC_K = 5  # Naeem et al.'s k, for all four (Kynkäänniemi et al. use 3)
BLOCK = 1024  # rows of the distance matrix held at once: BLOCK × N float64
METRICS = ("precision", "recall", "density", "coverage")


def _as64(x: np.ndarray | Tensor) -> Tensor:
    return torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x).to(torch.float64)


def _sq_distances(a: Tensor, b: Tensor, b_sq: Tensor) -> Tensor:
    """Squared Euclidean distances, a block of rows against all of b (clamped at 0)."""
    return ((a * a).sum(1, keepdim=True) + b_sq[None, :] - 2.0 * a @ b.T).clamp_(min=0.0)


def knn_radii(features: np.ndarray | Tensor, k: int = PRDC_K, block: int = BLOCK) -> Tensor:
    """The squared distance from each row to its k-th nearest other row (float64)."""
    x = _as64(features)
    if len(x) <= k:
        raise ValueError(f"k-NN radii with k={k} need more than {k} features, found {len(x)}")
    sq = (x * x).sum(1)
    # kthvalue(k + 1): the row itself is its own nearest neighbour, at distance 0
    return torch.cat(
        [_sq_distances(x[i : i + block], x, sq).kthvalue(k + 1, dim=1).values for i in range(0, len(x), block)]
    )


def prdc(
    fake: np.ndarray | Tensor,
    real: np.ndarray | Tensor,
    *,
    k: int = PRDC_K,
    real_radii: Tensor | None = None,
    block: int = BLOCK,
) -> dict[str, float]:
    """Precision, recall, density and coverage of `fake` (M×d) against `real` (N×d) features.
    `real_radii` (knn_radii(real, k)) saves recomputing them for every generated set. With k or
    fewer images on a side there are no k-NN balls: every value is NaN."""
    fake, real = _as64(fake), _as64(real)
    if min(len(fake), len(real)) <= k:
        return dict.fromkeys(METRICS, float("nan"))
    r_real = knn_radii(real, k, block) if real_radii is None else real_radii
    r_fake = knn_radii(fake, k, block)
    real_sq = (real * real).sum(1)
    in_real_ball = torch.zeros(len(fake), dtype=torch.bool)
    density_hits = torch.zeros(len(fake), dtype=torch.float64)
    recalled = torch.zeros(len(real), dtype=torch.bool)
    covered = torch.zeros(len(real), dtype=torch.bool)
    for i in range(0, len(fake), block):
        d = _sq_distances(fake[i : i + block], real, real_sq)  # (B, N)
        in_real_ball[i : i + block] = (d <= r_real[None, :]).any(1)
        strictly = d < r_real[None, :]
        density_hits[i : i + block] = strictly.sum(1)
        covered |= strictly.any(0)
        recalled |= (d <= r_fake[i : i + block, None]).any(0)
    return {
        "precision": in_real_ball.double().mean().item(),
        "recall": recalled.double().mean().item(),
        "density": (density_hits.sum() / (k * len(fake))).item(),
        "coverage": covered.double().mean().item(),
    }
