"""A user's own images in torchvision's ImageFolder layout:

    root/<class>/**/*.png ...          one subfolder per class (names sorted = class ids)
    root/*.png ...                     or one unlabelled set
    root/train/..., root/test/...      either layout, with the test split given

Without `train/` and `test/`, a seeded, class-stratified `data.test_fraction` is held out.
Files are listed in sorted order and hidden files are ignored, so the same folder always
prepares the same bytes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ganlab.data.base import IMAGE_EXTENSIONS, DataError, Dataset, EncodedImages, stratified_test_mask

if TYPE_CHECKING:
    from ganlab.config import DataConfig


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def _images_under(folder: Path) -> list[Path]:
    """Every image file below `folder`, recursively, in sorted order, hidden ones skipped."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [
            Path(dirpath, f)
            for f in sorted(filenames)
            if not f.startswith(".") and f.lower().endswith(IMAGE_EXTENSIONS)
        ]
    return found


def _layout(root: Path) -> tuple[list[str], list[Path], np.ndarray]:
    """(class names, files, labels) of one split folder; no classes for a flat folder."""
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and _visible(p))
    loose = [p for p in sorted(root.iterdir()) if p.is_file() and _visible(p) and p.suffix.lower() in IMAGE_EXTENSIONS]
    if subdirs and loose:
        raise DataError(
            f"{root}: holds both image files ({loose[0].name}, ...) and subfolders ({subdirs[0].name}, ...); "
            "expected one subfolder per class, or images directly in the folder for one unlabelled set"
        )
    if not subdirs:
        if not loose:
            raise DataError(f"{root}: no images found (expected {', '.join(IMAGE_EXTENSIONS)} files)")
        return [], loose, np.zeros(len(loose), dtype=np.int64)
    files, labels = [], []
    for label, folder in enumerate(subdirs):
        images = _images_under(folder)
        if not images:
            raise DataError(f"{folder}: class folder holds no images (expected {', '.join(IMAGE_EXTENSIONS)} files)")
        files += images
        labels += [label] * len(images)
    return [p.name for p in subdirs], files, np.asarray(labels, dtype=np.int64)


def read_folder(source: str, test_fraction: float) -> Dataset:
    root = Path(source)
    if source == "download" or not root.is_dir():
        raise DataError(f"data.source: {source!r} is not a folder (data.dataset=folder reads an image folder)")
    if (root / "train").is_dir() and (root / "test").is_dir():
        classes, train_files, train_labels = _layout(root / "train")
        test_classes, test_files, test_labels = _layout(root / "test")
        if test_classes != classes:
            raise DataError(
                f"{root}: train/ and test/ must hold the same class folders; found {classes} and {test_classes}"
            )
    else:
        classes, files, labels = _layout(root)
        is_test = stratified_test_mask(np.arange(len(files)), labels, test_fraction)
        train_files, train_labels = [f for f, t in zip(files, is_test) if not t], labels[~is_test]
        test_files, test_labels = [f for f, t in zip(files, is_test) if t], labels[is_test]
    return Dataset(
        classes=classes,
        train=EncodedImages([str(f) for f in train_files], train_files, train_labels),
        test=EncodedImages([str(f) for f in test_files], test_files, test_labels),
        origin=tuple(train_files) + tuple(test_files),
    )


def read(cfg: DataConfig) -> Dataset:
    return read_folder(cfg.source, cfg.test_fraction)
