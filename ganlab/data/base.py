"""The one interface every data source implements, and what sources share: image decoding,
resizing, the seeded class-stratified test split and downloads.

A source's `read(cfg)` returns a `Dataset`: class names plus, per split, a sequence of images
that are decoded lazily, so `prepare` can stream a folder larger than memory into the prepared
arrays one image at a time.
"""

from __future__ import annotations

import hashlib
import io
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Protocol, Sequence

import numpy as np
from PIL import Image

from ganlab.errors import GanlabError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
SPLIT_SEED = 0  # which images a source without a test split holds out; fixed, so re-preparing is stable
WHITE = (255, 255, 255)


class DataError(GanlabError):
    """A dataset file is missing, fails its checksum, or is truncated/corrupt."""


class Images(Protocol):
    """One split of a source: `labels[i]` belongs to the i-th image that `decoded` yields.

    `keys`, where a source has them, name what an image shows independently of its style (an
    emoji's code point, a file's path in its folder): images of two sources with the same key
    are a pair, which the CycleGAN report scores translations against."""

    labels: np.ndarray  # int64 N
    keys: list[str] | None

    def take(self, idx: np.ndarray) -> Images:
        """The images at positions `idx`, in that order."""
        ...

    def __len__(self) -> int: ...

    def decoded(self, resolution: int) -> Iterator[tuple[str, np.ndarray | Exception]]:
        """(name, uint8 3×R×R image) per image in order, or (name, the error) for one that
        cannot be read, so the caller decides whether that stops `prepare`."""
        ...


@dataclass(frozen=True, kw_only=True)
class Dataset:
    classes: list[str]  # empty: one unlabelled set (every label is 0)
    train: Images
    test: Images
    # the files (or folders) the images were read from, for the prepared data's provenance
    origin: tuple[Path, ...] = ()


def provenance(source: str, origin: Sequence[Path]) -> dict:
    """What `prepare` read, for meta.json: the source as params name it, and the count, total
    bytes and a sha256 over the files' paths (relative to their common folder) and contents.

    Two sources with the same files give the same digest wherever they lie; a changed, added or
    removed file changes it. A download is its cached archive(s), pinned by the published checksum.
    """
    files = sorted({f for path in origin for f in ([path] if path.is_file() else path.rglob("*")) if f.is_file()})
    root = Path(os.path.commonpath([f.parent for f in files])) if files else Path()
    digest, total = hashlib.sha256(), 0
    for f in files:
        content = hashlib.sha256()
        with open(f, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                content.update(chunk)
                total += len(chunk)
        digest.update(f.relative_to(root).as_posix().encode() + b"\0" + content.digest())
    return {"source": source, "files": len(files), "bytes": total, "sha256": digest.hexdigest()}


def resize_square(image: Image.Image, resolution: int) -> np.ndarray:
    """Any PIL image -> uint8 3×R×R: alpha composited on white, grey to RGB, centre-cropped to a
    square, resized with antialiasing (Lanczos, as StyleGAN's dataset tool does)."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        image = Image.new("RGB", rgba.size, WHITE)
        image.paste(rgba, mask=rgba.getchannel("A"))
    elif image.mode != "RGB":
        image = image.convert("RGB")
    w, h = image.size
    side = min(w, h)
    if w != h:
        left, top = (w - side) // 2, (h - side) // 2
        image = image.crop((left, top, left + side, top + side))
    if side != resolution:
        image = image.resize((resolution, resolution), Image.Resampling.LANCZOS)
    return np.asarray(image, dtype=np.uint8).transpose(2, 0, 1).copy()


@dataclass(frozen=True)
class ArrayImages:
    """Already-decoded images (the built-in datasets), resized only when the resolution differs."""

    images: np.ndarray  # uint8 N×3×H×W
    labels: np.ndarray
    keys: None = None  # an index says nothing about what two datasets' images show

    def __len__(self) -> int:
        return len(self.images)

    def take(self, idx: np.ndarray) -> ArrayImages:
        return ArrayImages(self.images[idx], self.labels[idx])

    def decoded(self, resolution: int) -> Iterator[tuple[str, np.ndarray | Exception]]:
        same = self.images.shape[-1] == resolution
        for i, image in enumerate(self.images):
            yield str(i), image if same else resize_square(Image.fromarray(image.transpose(1, 2, 0)), resolution)


def _decode(name: str, payload: bytes | Path, resolution: int) -> tuple[str, np.ndarray | Exception]:
    try:
        with Image.open(io.BytesIO(payload) if isinstance(payload, bytes) else payload) as image:
            image.load()  # decode fully now: a truncated file fails here, not later
            return name, resize_square(image, resolution)
    except Exception as e:  # PIL raises OSError, SyntaxError, ValueError, ... for bad files
        return name, e


@dataclass(frozen=True)
class EncodedImages:
    """Image files (a path, or bytes already read from an archive), decoded with PIL on demand.

    Decoding runs on a thread pool (PIL releases the GIL while it decodes and resizes), a
    bounded window ahead of the reader so memory stays flat, and in order, so the same files
    always give the same bytes."""

    names: list[str]
    payloads: Sequence[bytes | Path]
    labels: np.ndarray
    keys: list[str] | None = None

    def __len__(self) -> int:
        return len(self.names)

    def take(self, idx: np.ndarray) -> EncodedImages:
        keys = None if self.keys is None else [self.keys[i] for i in idx]
        return EncodedImages([self.names[i] for i in idx], [self.payloads[i] for i in idx], self.labels[idx], keys)

    def decoded(self, resolution: int) -> Iterator[tuple[str, np.ndarray | Exception]]:
        workers = min(8, os.cpu_count() or 1)
        window = 64 * workers
        with ThreadPoolExecutor(workers) as pool:
            for start in range(0, len(self.names), window):
                stop = start + window
                names, payloads = self.names[start:stop], self.payloads[start:stop]
                yield from pool.map(_decode, names, payloads, [resolution] * len(names))


def stratified_test_mask(groups: np.ndarray, strata: np.ndarray, fraction: float) -> np.ndarray:
    """A boolean mask over items: True for the held-out test items.

    Items that share a group (one emoji code point in every vendor's and skin tone's version)
    always land in the same split. Within each stratum (class), round(fraction · groups) of its
    groups, at least one when it has two or more, are drawn with a fixed seed.
    """
    unique_groups, group_of = np.unique(groups, return_inverse=True)
    group_stratum = np.empty(len(unique_groups), dtype=strata.dtype)
    group_stratum[group_of] = strata
    test_groups = np.zeros(len(unique_groups), dtype=bool)
    for s in np.unique(group_stratum):
        members = np.flatnonzero(group_stratum == s)
        n_test = int(np.floor(len(members) * fraction + 0.5))
        if len(members) >= 2:
            n_test = min(max(n_test, 1), len(members) - 1)
        rng = np.random.default_rng([SPLIT_SEED, int(s)])
        test_groups[members[rng.permutation(len(members))[:n_test]]] = True
    return test_groups[group_of]


def download_dir() -> Path:
    """Where `source: download` keeps archives, outside the DVC outputs (like torch hub does)."""
    return Path(os.environ.get("GANLAB_DATA_CACHE", Path.home() / ".cache" / "ganlab"))


def download(url: str, folder: Path, filename: str, md5: str | None) -> Path:
    """torchvision's download (resumable, md5-checked) with a clear error when offline."""
    from torchvision.datasets.utils import download_url

    try:
        download_url(url, str(folder), filename, md5)
    except Exception as e:
        raise DataError(
            f"data.source=download: could not download {url} ({type(e).__name__}: {e}). "
            f"Copy the official file(s) to a folder and set data.source to it"
        ) from None
    return folder / filename
