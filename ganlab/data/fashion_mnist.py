"""Fashion-MNIST in the idx format (https://github.com/zalandoresearch/fashion-mnist): 28×28
greyscale, zero-padded to 32×32 and repeated to three channels so it looks like CIFAR-10."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ganlab.data.base import ArrayImages, DataError, Dataset, download, download_dir
from ganlab.io import bytes_digest

if TYPE_CHECKING:
    from ganlab.config import DataConfig


FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip
# md5 of the published .gz files, then the widely published md5 of their decompressed idx
# content. Re-packaged copies (Debian's dataset-fashion-mnist re-gzips them) differ in the
# first but match the second.
FASHION_MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
}
FASHION_MNIST_SPLITS = {"train": "train", "test": "t10k"}


def _read_idx_file(folder: Path, stem: str, verify: bool, md5: dict[str, str]) -> tuple[Path, bytes]:
    """The file read and the decompressed idx bytes of `stem`, from `stem.gz` or the extracted `stem`."""
    gz, raw = folder / f"{stem}.gz", folder / stem
    if gz.is_file():
        packed = gz.read_bytes()
        try:
            data = gzip.decompress(packed)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"{gz}: truncated or corrupt gzip file ({type(e).__name__}: {e})") from e
        path = gz
        if verify and bytes_digest(packed) != md5[gz.name] and bytes_digest(data) != md5[stem]:
            raise DataError(f"{gz}: md5 {bytes_digest(packed)} does not match the published {md5[gz.name]}")
    elif raw.is_file():
        data, path = raw.read_bytes(), raw
        if verify and bytes_digest(data) != md5[stem]:
            raise DataError(f"{raw}: md5 {bytes_digest(data)} does not match the expected {md5[stem]}")
    else:
        raise DataError(f"{gz}: missing Fashion-MNIST file (expected {gz.name} or {stem} in {folder})")
    return path, data


def _parse_idx(path: Path, data: bytes, magic: int, shape_tail: tuple[int, ...]) -> np.ndarray:
    ndim = 1 + len(shape_tail)
    header = 4 + 4 * ndim
    if len(data) < header or int.from_bytes(data[:4], "big") != magic:
        raise DataError(f"{path}: not an idx file with magic {magic:#010x}")
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if dims[1:] != shape_tail:
        raise DataError(f"{path}: expected items of shape {shape_tail}, found {dims[1:]}")
    expected = header + int(np.prod(dims))
    if len(data) != expected:
        raise DataError(f"{path}: truncated idx file: expected {expected} bytes, found {len(data)}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _fashion_split(folder: Path, prefix: str, verify: bool, md5: dict[str, str]) -> ArrayImages:
    img_path, img_bytes = _read_idx_file(folder, f"{prefix}-images-idx3-ubyte", verify, md5)
    lab_path, lab_bytes = _read_idx_file(folder, f"{prefix}-labels-idx1-ubyte", verify, md5)
    images = _parse_idx(img_path, img_bytes, 0x803, (28, 28))
    labels = _parse_idx(lab_path, lab_bytes, 0x801, ())
    if len(images) != len(labels) or labels.max(initial=0) >= len(FASHION_MNIST_CLASSES):
        raise DataError(f"{lab_path}: {len(labels)} labels in [0, 10) expected for {len(images)} images")
    # Background is 0, so pad with 0; three equal channels make the images look like CIFAR's.
    padded = np.zeros((len(images), 3, 32, 32), dtype=np.uint8)
    padded[:, :, 2:30, 2:30] = images[:, None]
    return ArrayImages(padded, labels.astype(np.int64))


def _fashion_folder(source: str, verify: bool, md5: dict[str, str]) -> Path:
    if source != "download":
        folder = Path(source)
        if not folder.is_dir():
            raise DataError(f"data.source: {folder} is not a folder holding the Fashion-MNIST idx files")
        return folder
    folder = download_dir() / "fashion-mnist"
    for split in FASHION_MNIST_SPLITS.values():
        for kind in ("images-idx3", "labels-idx1"):
            name = f"{split}-{kind}-ubyte.gz"
            download(FASHION_MNIST_URL + name, folder, name, md5[name] if verify else None)
    return folder


def read_fashion_mnist(source: str, verify: bool, md5: dict[str, str] = FASHION_MNIST_MD5) -> Dataset:
    folder = _fashion_folder(source, verify, md5)
    train, test = (_fashion_split(folder, FASHION_MNIST_SPLITS[s], verify, md5) for s in ("train", "test"))
    stems = [
        f"{split}-{kind}-ubyte" for split in FASHION_MNIST_SPLITS.values() for kind in ("images-idx3", "labels-idx1")
    ]
    read_from = tuple(folder / f"{stem}.gz" if (folder / f"{stem}.gz").is_file() else folder / stem for stem in stems)
    return Dataset(classes=list(FASHION_MNIST_CLASSES), train=train, test=test, origin=read_from)


def read(cfg: DataConfig) -> Dataset:
    return read_fashion_mnist(cfg.source, cfg.verify)
