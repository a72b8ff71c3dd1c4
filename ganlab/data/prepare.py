"""`prepare`: read the source named by `data.dataset` and write the prepared splits atomically."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from ganlab.data import cifar10, emoji, fashion_mnist, folder
from ganlab.data.base import DataError, Dataset, Images
from ganlab.data.prepared import staging_dir, swap_in, write_split
from ganlab.io import atomic_write_text

if TYPE_CHECKING:
    from ganlab.config import DataConfig

DATASETS: dict[str, Callable[[DataConfig], Dataset]] = {
    "cifar10": cifar10.read,
    "fashion_mnist": fashion_mnist.read,
    "folder": folder.read,
    "emoji": emoji.read,
}


def _stop(name: str, error: Exception) -> None:
    raise DataError(
        f"{name}: unreadable image ({type(error).__name__}: {error}); fix or remove it, "
        "or set data.on_bad=skip to leave such files out"
    )


def _warn(name: str, error: Exception) -> None:
    print(f"warning: skipping {name}: {type(error).__name__}: {error}", file=sys.stderr)


def prepare(
    cfg: DataConfig, *, train_out: str | os.PathLike, test_out: str | os.PathLike, bad_out: str | os.PathLike
) -> dict[str, dict[str, int]]:
    """Write both splits, and the list of skipped files to `bad_out`. Returns the image count per
    class of each split."""
    dataset = DATASETS[cfg.dataset](cfg)
    return write_prepared(
        {"train": (Path(train_out), dataset.train), "test": (Path(test_out), dataset.test)},
        classes=dataset.classes,
        resolution=cfg.resolution,
        on_bad=cfg.on_bad,
        bad_out=bad_out,
        check=lambda split, labels: _check_classes(split, dataset.classes, labels),
    )


def write_prepared(
    splits: dict[str, tuple[Path, Images]],
    *,
    classes: list[str],
    resolution: int,
    on_bad: str,
    bad_out: str | os.PathLike,
    check: Callable[[str, np.ndarray], None] = lambda split, labels: None,
) -> dict[str, dict[str, int]]:
    """Decode each split's images into its prepared folder, list skipped files in `bad_out`, and
    return each split's image count per class.

    Nothing is replaced until every split was decoded and checked (`check(split, labels)` raises
    to stop), so an error (a corrupt file, an empty class) leaves the previous outputs as they were.
    """
    handler = _warn if on_bad == "skip" else _stop
    staged, skipped = {}, []
    try:
        for split, (out, images) in splits.items():
            staged[split] = staging_dir(out)
            skipped += write_split(images, classes=classes, resolution=resolution, folder=staged[split], on_bad=handler)
            check(split, np.load(staged[split] / "labels.npy"))
        atomic_write_text("".join(f"{name}\n" for name in skipped), bad_out)
        for split, (out, _) in splits.items():
            swap_in(staged.pop(split), out)
    finally:
        for leftover in staged.values():
            shutil.rmtree(leftover, ignore_errors=True)
    return {split: json.loads((out / "meta.json").read_text())["class_counts"] for split, (out, _) in splits.items()}


def _check_classes(split: str, classes: list[str], labels: np.ndarray) -> None:
    if not classes:
        return
    counts = np.bincount(labels, minlength=len(classes))
    empty = [c for c, n in zip(classes, counts) if n == 0]
    if empty and split == "train":
        raise DataError(f"data: class(es) {empty} have no training images; add images or remove the class")
    if empty:
        print(f"warning: class(es) {empty} have no test images; per-class FID leaves them out", file=sys.stderr)
