"""The prepared format every stage after `prepare` reads: one folder per split with

    images.npy   uint8 N×3×R×R (R = data.resolution), read memory-mapped
    labels.npy   int64 N
    meta.json    classes, resolution, per-class counts and the sha256 of both arrays
    keys.txt     (only where the source has keys) one pairing key per image, e.g. an emoji's code point

Memory-mapped, a dataset larger than RAM trains from the page cache: a batch reads only its
own images. The arrays are written while the images are decoded, one at a time.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from ganlab.data.base import DataError, Images

FILES = ("images.npy", "labels.npy", "meta.json")
KEYS_FILE = "keys.txt"


@dataclass(frozen=True, kw_only=True)
class Split:
    images: Tensor  # uint8 N×3×R×R, memory-mapped
    labels: Tensor  # int64 N
    classes: list[str]  # empty for an unlabelled set
    digest: str  # sha256 of meta.json without its "source" (see data_digest)
    keys: list[str] | None = None  # pairing keys (keys.txt), where the source has them

    @property
    def resolution(self) -> int:
        return int(self.images.shape[-1])


def _meta_text(meta: dict) -> str:
    return json.dumps(meta, indent=1) + "\n"


def data_digest(meta: dict) -> str:
    """What a run's config records of its data: sha256 of meta.json as it reads without the
    "source" provenance (classes, resolution, counts and both arrays' sha256). So the same images
    read from another place, or from a folder whose other files changed, are the same data, and
    a run trained on them resumes; and data prepared before provenance existed keeps its digest."""
    return hashlib.sha256(_meta_text({k: v for k, v in meta.items() if k != "source"}).encode()).hexdigest()


def load_split(folder: str | os.PathLike) -> Split:
    folder = Path(folder)
    missing = [name for name in FILES if not (folder / name).is_file()]
    if missing:
        raise DataError(f"{folder}: not a prepared split (missing {', '.join(missing)}); re-run `dvc repro prepare`")
    meta = json.loads((folder / "meta.json").read_text())
    # "c" (copy-on-write) maps the file without reading it and gives a writable array, which
    # torch.from_numpy wants; nothing is ever written back.
    images = np.load(folder / "images.npy", mmap_mode="c")
    labels = np.load(folder / "labels.npy")
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1] != 3 or images.shape[2] != images.shape[3]:
        raise DataError(f"{folder}/images.npy: expected uint8 N×3×R×R images, found {images.dtype} {images.shape}")
    if labels.shape != (len(images),) or images.shape[-1] != meta["resolution"]:
        raise DataError(f"{folder}: images {images.shape}, labels {labels.shape} and meta.json do not agree")
    return Split(
        images=torch.from_numpy(images),
        labels=torch.from_numpy(labels),
        classes=list(meta["classes"]),
        digest=data_digest(meta),
        keys=(folder / KEYS_FILE).read_text().splitlines() if (folder / KEYS_FILE).is_file() else None,
    )


def write_split(
    images: Images,
    *,
    classes: list[str],
    resolution: int,
    folder: Path,
    on_bad: Callable[[str, Exception], None],
    source: dict | None = None,
) -> list[str]:
    """Decode `images` into the empty `folder`. `on_bad(name, error)` raises to stop, or returns
    to skip the file. `source` (ganlab.data.base.provenance) goes into meta.json. Returns the
    names skipped."""
    n, shape = len(images), (3, resolution, resolution)
    if n == 0:
        raise DataError(f"{folder.name}: the split holds no images")
    array = np.lib.format.open_memmap(folder / "images.npy", mode="w+", dtype=np.uint8, shape=(n, *shape))
    kept, skipped, digest = [], [], hashlib.sha256()
    for i, (name, image) in enumerate(images.decoded(resolution)):
        if isinstance(image, Exception):
            on_bad(name, image)
            skipped.append(name)
            continue
        array[len(kept)] = image
        digest.update(image.tobytes())
        kept.append(i)
    if skipped:  # rewrite with the final length (rare: only when files were skipped)
        array.flush()
        final = np.lib.format.open_memmap(
            folder / "images.tmp.npy", mode="w+", dtype=np.uint8, shape=(len(kept), *shape)
        )
        for start in range(0, len(kept), 4096):
            stop = min(start + 4096, len(kept))
            final[start:stop] = array[start:stop]
        final.flush()
        del array, final
        os.replace(folder / "images.tmp.npy", folder / "images.npy")
    else:
        array.flush()
        del array
    if not kept:
        raise DataError(f"{folder.name}: every image was unreadable ({len(skipped)} skipped)")
    labels = np.asarray(images.labels, dtype=np.int64)[kept]
    np.save(folder / "labels.npy", labels)
    counts = np.bincount(labels, minlength=max(len(classes), 1)).tolist()
    meta = {
        "classes": classes,
        "resolution": resolution,
        "count": len(kept),
        "class_counts": dict(zip(classes, counts)) if classes else {"(unlabelled)": len(kept)},
        "images_sha256": digest.hexdigest(),
        "labels_sha256": hashlib.sha256(labels.tobytes()).hexdigest(),
    }
    if source is not None:
        meta["source"] = source  # last, so data_digest reads the rest as it always was
    (folder / "meta.json").write_text(_meta_text(meta))
    if images.keys is not None:
        (folder / KEYS_FILE).write_text("".join(f"{images.keys[i]}\n" for i in kept))
    return skipped


def staging_dir(final: Path) -> Path:
    """An empty temp folder beside `final`, on the same filesystem so it can be renamed into place.
    Leftovers of a killed earlier run (one prepare runs at a time under DVC) are removed first."""
    final.parent.mkdir(parents=True, exist_ok=True)
    for leftover in final.parent.glob(f".{final.name}.*.tmp"):
        shutil.rmtree(leftover, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))


def swap_in(staged: Path, final: Path) -> None:
    """Replace the folder `final` by `staged` (renames; the old one is deleted afterwards)."""
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old.{os.getpid()}")
        os.replace(final, old)
    os.replace(staged, final)
    if old is not None:
        shutil.rmtree(old) if old.is_dir() else old.unlink()
