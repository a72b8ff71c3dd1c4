"""Inception statistics of the prepared test set: the reference side of every FID.

Kept apart from the checkpoint evaluator so that DVC does not recompute these (the costliest
single step on CPU) when model or training code changes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ganlab.data import load_split
from ganlab.metrics.fid import InceptionFeatures, save_statistics, statistics
from ganlab.sampling import resolve_device


def compute_reference(
    *, test_path: str | Path, out: str | Path, batch_size: int, device: str, progress: bool = True
) -> np.ndarray:
    """Inception statistics of the prepared test split, saved as pytorch-fid's .npz."""
    split = load_split(test_path)
    features = InceptionFeatures(device=resolve_device(device)).of_images(
        split.images, batch_size=batch_size, progress=progress
    )
    mu, sigma = statistics(features)
    # Extra arrays let the fid stage check that checkpoints fit this dataset; pytorch-fid
    # itself reads only mu and sigma.
    save_statistics(
        out, mu, sigma, num_classes=np.array(len(split.classes)), image_shape=np.array(split.images.shape[1:])
    )
    return features
