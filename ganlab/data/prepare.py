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
from ganlab.data.base import DataError, Dataset
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
    class of each split.

    Nothing is replaced until both splits were decoded and checked, so an error (a corrupt file,
    an empty class) leaves the previous outputs as they were.
    """
    dataset = DATASETS[cfg.dataset](cfg)
    on_bad = _warn if cfg.on_bad == "skip" else _stop
    outs = {"train": Path(train_out), "test": Path(test_out)}
    staged, skipped = {}, []
    try:
        for split, out in outs.items():
            staged[split] = staging_dir(out)
            images = getattr(dataset, split)
            skipped += write_split(
                images, classes=dataset.classes, resolution=cfg.resolution, folder=staged[split], on_bad=on_bad
            )
            _check_classes(split, dataset.classes, np.load(staged[split] / "labels.npy"))
        atomic_write_text("".join(f"{name}\n" for name in skipped), bad_out)
        for split, out in outs.items():
            swap_in(staged.pop(split), out)
    finally:
        for leftover in staged.values():
            shutil.rmtree(leftover, ignore_errors=True)
    return {split: json.loads((out / "meta.json").read_text())["class_counts"] for split, out in outs.items()}


def _check_classes(split: str, classes: list[str], labels: np.ndarray) -> None:
    if not classes:
        return
    counts = np.bincount(labels, minlength=len(classes))
    empty = [c for c, n in zip(classes, counts) if n == 0]
    if empty and split == "train":
        raise DataError(f"data: class(es) {empty} have no training images; add images or remove the class")
    if empty:
        print(f"warning: class(es) {empty} have no test images; per-class FID leaves them out", file=sys.stderr)
