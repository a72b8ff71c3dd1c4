"""`prepare`: read the source named by `data.dataset` and write the prepared splits atomically."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

import numpy as np

from ganlab.data import cifar10, emoji, fashion_mnist, folder
from ganlab.data.base import DataError, Dataset, Images, provenance
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


@contextlib.contextmanager
def keeps_earlier(outs: list[str | os.PathLike], stage: str) -> Iterator[None]:
    """Say, on a data error, that nothing was replaced and how to go on."""
    try:
        yield
    except DataError as e:
        earlier = [str(o) for o in outs if Path(o).exists()]
        kept = f"{', '.join(earlier)} still hold(s) the last prepared data" if earlier else "nothing was written"
        raise DataError(f"{e}\n  {kept}; fix the source, then `dvc repro {stage}`") from None


def prepare(
    cfg: DataConfig, *, train_out: str | os.PathLike, test_out: str | os.PathLike, bad_out: str | os.PathLike
) -> dict[str, dict[str, int]]:
    """Write both splits, and the list of skipped files to `bad_out`. Returns the image count per
    class of each split."""
    with keeps_earlier([train_out, test_out], "prepare"):
        return _prepare(cfg, train_out=train_out, test_out=test_out, bad_out=bad_out)


def _prepare(cfg: DataConfig, *, train_out, test_out, bad_out) -> dict[str, dict[str, int]]:
    dataset = DATASETS[cfg.dataset](cfg)
    read = provenance(cfg.source, dataset.origin)  # both splits come from the same files
    return write_prepared(
        {"train": (Path(train_out), dataset.train), "test": (Path(test_out), dataset.test)},
        classes=dataset.classes,
        resolution=cfg.resolution,
        on_bad=cfg.on_bad,
        bad_out=bad_out,
        check=lambda split, labels: _check_classes(split, dataset.classes, labels),
        source={"train": read, "test": read},
    )


def write_prepared(
    splits: dict[str, tuple[Path, Images]],
    *,
    classes: list[str],
    resolution: int,
    on_bad: str,
    bad_out: str | os.PathLike,
    check: Callable[[str, np.ndarray], None] = lambda split, labels: None,
    source: dict[str, dict] | None = None,
) -> dict[str, dict[str, int]]:
    """Decode each split's images into its prepared folder, list skipped files in `bad_out`, and
    return each split's image count per class.

    Nothing is replaced until every split was decoded and checked (`check(split, labels)` raises
    to stop), so an error (a corrupt file, an empty class) leaves the previous outputs as they were.
    `source[split]`, the provenance of what was read, goes into that split's meta.json.
    """
    handler = _warn if on_bad == "skip" else _stop
    staged, skipped = {}, []
    try:
        for split, (out, images) in splits.items():
            staged[split] = staging_dir(out)
            skipped += write_split(
                images,
                classes=classes,
                resolution=resolution,
                folder=staged[split],
                on_bad=handler,
                source=(source or {}).get(split),
            )
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
