"""Kernel Inception Distance on Inception features: unbiased at any sample size, so it is the
number to lead with where the reference set is small."""

from __future__ import annotations

import numpy as np
import torch

KID_SUBSETS, KID_SUBSET_SIZE, KID_RNG_SEED = 100, 1000, 2020  # torch-fidelity's defaults


def kid(features_1: np.ndarray, features_2: np.ndarray) -> dict:
    """Kernel Inception Distance (Bińkowski et al. 2018): unbiased MMD² with the cubic
    polynomial kernel (x·y/d + 1)³, mean and std over 100 random subsets of 1000. Computed by
    torch-fidelity, a maintained implementation.

    Where a set has 1000 images or fewer, the subsets take half of the smaller set: subsets as
    large as the set would all be the set itself, and their spread a meaningless 0."""
    from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric

    smaller = min(len(features_1), len(features_2))
    subset_size = KID_SUBSET_SIZE if smaller > KID_SUBSET_SIZE else max(2, smaller // 2)
    out = kid_features_to_metric(
        torch.from_numpy(features_1),
        torch.from_numpy(features_2),
        kid_subsets=KID_SUBSETS,
        kid_subset_size=subset_size,
        kid_kernel="poly",
        kid_kernel_poly_degree=3,
        kid_kernel_poly_gamma=None,
        kid_kernel_poly_coef0=1,
        rng_seed=KID_RNG_SEED,
        verbose=False,
    )
    return {"mean": out[KEY_METRIC_KID_MEAN], "std": out[KEY_METRIC_KID_STD], "subset_size": subset_size}
