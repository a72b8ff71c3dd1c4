"""The reference side of every score, computed once: Inception features of the reference split
(`fid.reference`: test or train), its statistics in pytorch-fid's format, plus the features and
labels for KID and per-class FID; and features of real images outside the reference, for the
real-data floor: an equally large random subset of the training set when the reference is the
test set, the test set when it is the training set.

For a translator pair (CycleGAN), `compute_translation_reference` does the same per domain.

Kept apart from the checkpoint evaluator so that DVC does not recompute these (the costliest
single step on CPU) when model or training code changes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ganlab.data.prepared import load_split
from ganlab.errors import GanlabError
from ganlab.io import atomic_path
from ganlab.metrics.fid import FrechetReference, InceptionFeatures, save_statistics, statistics
from ganlab.sampling import resolve_device

FLOOR_SEED = 0  # which training images stand in for "a perfect generator"; fixed, not a param
SUBSET_SEED = 1  # which reference images a `fid.reference_size` subset keeps; fixed, not a param


def seeded_subset(n: int, size: int, seed: int) -> torch.Tensor:
    """`size` of range(n) drawn with `seed` (all of it where size is 0 or >= n), sorted so that the
    memory-mapped images are read in order."""
    if size == 0 or size >= n:
        return torch.arange(n)
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:size].sort().values


def compute_reference(
    *,
    reference: str,
    reference_size: int = 0,
    test_path: str | Path,
    train_path: str | Path,
    stats_out: str | Path,
    reference_features_out: str | Path,
    floor_features_out: str | Path,
    batch_size: int,
    device: str,
    progress: bool = True,
) -> dict[str, np.ndarray]:
    """Features of the `reference` split ("test" or "train") and of the floor's real images,
    saved with labels; returns both ("reference", "floor").

    `reference_size` > 0 keeps a seeded subset of that many reference images (a quick run's
    cheaper reference; the protocol names it), and the floor takes as many real images.

    `stats_out` is pytorch-fid's `--save-stats` format (`mu`, `sigma`); the extra arrays let
    later stages check that checkpoints fit this dataset and name the reference's split and size.
    """
    inception = InceptionFeatures(device=resolve_device(device))
    test, train = load_split(test_path), load_split(train_path)
    ref, floor = (test, train) if reference == "test" else (train, test)
    pool = len(ref.labels)
    ref_idx = seeded_subset(pool, reference_size, SUBSET_SEED)
    # the whole split stays a memory map (no copy of a large set into memory)
    ref_images, ref_labels = (
        (ref.images, ref.labels) if len(ref_idx) == pool else (ref.images[ref_idx], ref.labels[ref_idx])
    )
    if reference == "test":  # as many random training images as reference images
        floor_idx = seeded_subset(len(train.labels), len(ref_idx), FLOOR_SEED)
    else:  # the test split, cut to the reference's size where a subset was asked for
        floor_idx = seeded_subset(len(test.labels), reference_size, FLOOR_SEED)
    features = {}
    for name, images, labels, out in (
        ("reference", ref_images, ref_labels, reference_features_out),
        ("floor", floor.images[floor_idx], floor.labels[floor_idx], floor_features_out),
    ):
        features[name] = inception.of_images(images, batch_size=batch_size, progress=progress)
        save_features(out, features[name], labels.numpy())
    mu, sigma = statistics(features["reference"])
    save_statistics(
        stats_out,
        mu,
        sigma,
        num_classes=np.array(len(ref.classes)),
        image_shape=np.array(ref.images.shape[1:]),
        size=np.array(len(ref_labels)),
        pool=np.array(pool),
        split=np.array(reference),
    )
    return features


def save_features(path: str | Path, features: np.ndarray, labels: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, features=features.astype(np.float32), labels=labels.astype(np.int64))


def load_features(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    path = Path(path)
    if not path.is_file():
        raise GanlabError(f"{path}: reference features not found; run `dvc repro fid_reference` first")
    with np.load(path) as f:
        if "features" not in f.files or "labels" not in f.files:
            raise GanlabError(f"{path}: expected arrays 'features' and 'labels', found {sorted(f.files)}")
        return f["features"], f["labels"]


def floor_fid(floor_features: np.ndarray, reference: FrechetReference, *, n: int) -> tuple[float, int]:
    """FID of n real images from outside the reference against its statistics: what a generator
    that drew from the data distribution itself would score at this n. Returns (fid, n used), n
    capped at the number of stored floor features."""
    n = min(n, len(floor_features))
    return reference.distance_to(floor_features[:n]), n


def compute_translation_reference(
    *,
    test: dict[str, str | Path],
    train: dict[str, str | Path],
    out: dict[str, str | Path],
    batch_size: int,
    device: str,
) -> None:
    """Per domain: `mu`, `sigma` (pytorch-fid's --save-stats format) and `features` of the test
    images, `floor_features` of as many seeded-random training images, and `size`, `split`."""
    inception = InceptionFeatures(device=resolve_device(device))
    for d in "ab":
        test_split, train_split = load_split(test[d]), load_split(train[d])
        features = inception.of_images(test_split.images, batch_size=batch_size, progress=True)
        floor_idx = seeded_subset(len(train_split.labels), len(test_split.labels), FLOOR_SEED)
        floor = inception.of_images(train_split.images[floor_idx], batch_size=batch_size, progress=True)
        mu, sigma = statistics(features)
        save_statistics(
            out[d],
            mu,
            sigma,
            features=features.astype(np.float32),
            floor_features=floor.astype(np.float32),
            size=np.array(len(features)),
            split=np.array("test"),
            image_shape=np.array(test_split.images.shape[1:]),
        )
