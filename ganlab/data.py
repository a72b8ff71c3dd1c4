"""Read the official CIFAR-10 / Fashion-MNIST files into one uint8 N×3×32×32 format.

Every later stage reads only the prepared `.pt` files, so the rest of the pipeline does not
know which dataset it trains on.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch

from ganlab.errors import GanlabError
from ganlab.io import atomic_torch_save, bytes_digest, file_digest, load_checkpoint

if TYPE_CHECKING:
    from ganlab.config import DataConfig


class DataError(GanlabError):
    """A dataset file is missing, fails its checksum, or is truncated/corrupt."""


@dataclass(frozen=True, kw_only=True)
class Split:
    images: torch.Tensor  # uint8 N×3×32×32
    labels: torch.Tensor  # int64 N
    classes: list[str]

    def to_dict(self) -> dict:
        return {"images": self.images, "labels": self.labels, "classes": list(self.classes)}


def download_dir() -> Path:
    """Where `source: download` keeps archives, outside the DVC outputs (like torch hub does)."""
    return Path(os.environ.get("GANLAB_DATA_CACHE", Path.home() / ".cache" / "ganlab"))


def _download(url: str, folder: Path, filename: str, md5: str | None) -> Path:
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


# --------------------------------------------------------------------------------------------
# CIFAR-10, "python version" (https://www.cs.toronto.edu/~kriz/cifar.html)

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_FOLDER = "cifar-10-batches-py"
# The published md5s (the same ones torchvision checks).
CIFAR10_MD5 = {
    CIFAR10_ARCHIVE: "c58f30108f718f92721af3b95e74349a",
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
}
CIFAR10_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
CIFAR10_TEST = ["test_batch"]


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """The batches hold only numpy arrays, lists and strings; refuse anything else."""

    _allowed = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how Python 3 pickles the raw bytes inside an ndarray
    }

    def find_class(self, module, name):
        if (module, name) in self._allowed:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"unexpected object {module}.{name} in a CIFAR-10 batch")


def _unpickle(data: bytes, name: str) -> dict:
    try:
        obj = _NumpyOnlyUnpickler(io.BytesIO(data), encoding="latin1").load()
    except Exception as e:
        raise DataError(f"{name}: not a readable CIFAR-10 batch ({type(e).__name__}: {e})") from e
    if not isinstance(obj, dict):
        raise DataError(f"{name}: expected a pickled dict, found {type(obj).__name__}")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _cifar_files(source: Path, verify: bool, md5: dict[str, str]) -> dict[str, bytes]:
    """Bytes of every needed file, from the archive or the extracted folder."""
    wanted = CIFAR10_TRAIN + CIFAR10_TEST + ["batches.meta"]
    if source.is_dir():
        if (source / CIFAR10_FOLDER).is_dir():
            source = source / CIFAR10_FOLDER
        elif not (source / wanted[0]).exists() and (source / CIFAR10_ARCHIVE).is_file():
            source = source / CIFAR10_ARCHIVE
    if source.is_file():
        return _read_cifar_archive(source, wanted, verify, md5)
    if not source.is_dir():
        raise DataError(f"data.source: {source} does not exist (expected {CIFAR10_ARCHIVE} or {CIFAR10_FOLDER}/)")
    files = {}
    for name in wanted:
        path = source / name
        if not path.is_file():
            raise DataError(f"{path}: missing CIFAR-10 file (expected {', '.join(wanted)} in {source})")
        data = path.read_bytes()
        if verify and bytes_digest(data) != md5[name]:
            raise DataError(f"{path}: md5 {bytes_digest(data)} does not match the published {md5[name]}")
        files[name] = data
    return files


def _read_cifar_archive(path: Path, wanted: list[str], verify: bool, md5: dict[str, str]) -> dict[str, bytes]:
    if verify:
        found = file_digest(path)
        if found != md5[CIFAR10_ARCHIVE]:
            raise DataError(
                f"{path}: md5 {found} does not match the published {md5[CIFAR10_ARCHIVE]} "
                "(truncated download or a different file)"
            )
    files = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                name = os.path.basename(member.name)
                if member.isfile() and name in wanted:
                    files[name] = tar.extractfile(member).read()
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise DataError(f"{path}: truncated or corrupt archive ({type(e).__name__}: {e})") from e
    missing = [n for n in wanted if n not in files]
    if missing:
        raise DataError(f"{path}: archive lacks {', '.join(missing)}")
    return files


def _cifar_split(files: dict[str, bytes], names: list[str], classes: list[str]) -> Split:
    images, labels = [], []
    for name in names:
        batch = _unpickle(files[name], name)
        for key in ("data", "labels"):
            if key not in batch:
                raise DataError(f"{name}: missing key {key!r} (found {sorted(batch)})")
        data = np.asarray(batch["data"])
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
            raise DataError(f"{name}: expected uint8 data of shape N×3072, found {data.dtype} {data.shape}")
        lab = np.asarray(batch["labels"], dtype=np.int64)
        if lab.shape != (data.shape[0],) or lab.min(initial=0) < 0 or lab.max(initial=0) >= len(classes):
            raise DataError(f"{name}: expected {data.shape[0]} labels in [0, {len(classes)}), found {lab.shape}")
        # Rows are the R, G and B planes of 32×32 in row-major order, i.e. exactly C×H×W.
        images.append(data.reshape(-1, 3, 32, 32))
        labels.append(lab)
    return Split(
        images=torch.from_numpy(np.concatenate(images)),
        labels=torch.from_numpy(np.concatenate(labels)),
        classes=classes,
    )


def read_cifar10(source: str, verify: bool, md5: dict[str, str] = CIFAR10_MD5) -> tuple[Split, Split]:
    if source == "download":
        path = _download(CIFAR10_URL, download_dir(), CIFAR10_ARCHIVE, md5[CIFAR10_ARCHIVE] if verify else None)
    else:
        path = Path(source)
    files = _cifar_files(path, verify, md5)
    meta = _unpickle(files["batches.meta"], "batches.meta")
    classes = [str(c) for c in meta.get("label_names", [])]
    if len(classes) != 10:
        raise DataError(f"batches.meta: expected 10 label_names, found {classes}")
    return _cifar_split(files, CIFAR10_TRAIN, classes), _cifar_split(files, CIFAR10_TEST, classes)


# --------------------------------------------------------------------------------------------
# Fashion-MNIST, idx format (https://github.com/zalandoresearch/fashion-mnist)

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


def _fashion_split(folder: Path, prefix: str, verify: bool, md5: dict[str, str]) -> Split:
    img_path, img_bytes = _read_idx_file(folder, f"{prefix}-images-idx3-ubyte", verify, md5)
    lab_path, lab_bytes = _read_idx_file(folder, f"{prefix}-labels-idx1-ubyte", verify, md5)
    images = _parse_idx(img_path, img_bytes, 0x803, (28, 28))
    labels = _parse_idx(lab_path, lab_bytes, 0x801, ())
    if len(images) != len(labels) or labels.max(initial=0) >= len(FASHION_MNIST_CLASSES):
        raise DataError(f"{lab_path}: {len(labels)} labels in [0, 10) expected for {len(images)} images")
    # Background is 0, so pad with 0; three equal channels make the images look like CIFAR's.
    padded = np.zeros((len(images), 3, 32, 32), dtype=np.uint8)
    padded[:, :, 2:30, 2:30] = images[:, None]
    return Split(
        images=torch.from_numpy(padded),
        labels=torch.from_numpy(labels.astype(np.int64)),
        classes=list(FASHION_MNIST_CLASSES),
    )


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
            _download(FASHION_MNIST_URL + name, folder, name, md5[name] if verify else None)
    return folder


def read_fashion_mnist(source: str, verify: bool, md5: dict[str, str] = FASHION_MNIST_MD5) -> tuple[Split, Split]:
    folder = _fashion_folder(source, verify, md5)
    return tuple(_fashion_split(folder, FASHION_MNIST_SPLITS[s], verify, md5) for s in ("train", "test"))


Reader = Callable[[str, bool], tuple[Split, Split]]
DATASETS: dict[str, Reader] = {"cifar10": read_cifar10, "fashion_mnist": read_fashion_mnist}


def prepare(cfg: DataConfig, *, train_out: str | os.PathLike, test_out: str | os.PathLike) -> tuple[Split, Split]:
    """Read the dataset named by `cfg` and write both splits atomically."""
    train, test = DATASETS[cfg.dataset](cfg.source, cfg.verify)
    # Both files are written only after both splits were read and checked, so a bad test
    # file never leaves a fresh train.pt next to a stale test.pt.
    atomic_torch_save(train.to_dict(), train_out)
    atomic_torch_save(test.to_dict(), test_out)
    return train, test


def load_split(path: str | os.PathLike) -> Split:
    obj = load_checkpoint(path)
    for key in ("images", "labels", "classes"):
        if key not in obj:
            raise DataError(f"{path}: not a prepared split (missing {key!r}); re-run `dvc repro prepare`")
    images = obj["images"]
    if images.dtype != torch.uint8 or images.ndim != 4 or tuple(images.shape[1:]) != (3, 32, 32):
        raise DataError(f"{path}: expected uint8 N×3×32×32 images, found {images.dtype} {tuple(images.shape)}")
    return Split(images=images, labels=obj["labels"], classes=list(obj["classes"]))
