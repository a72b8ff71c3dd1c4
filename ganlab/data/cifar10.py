"""CIFAR-10, the official "python version" (https://www.cs.toronto.edu/~kriz/cifar.html):
five pickled training batches and one test batch of 32×32 RGB images."""

from __future__ import annotations

import io
import os
import pickle
import tarfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ganlab.data.base import ArrayImages, DataError, Dataset, download, download_dir
from ganlab.io import bytes_digest, file_digest

if TYPE_CHECKING:
    from ganlab.config import DataConfig


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


def _cifar_split(files: dict[str, bytes], names: list[str], classes: list[str]) -> ArrayImages:
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
    return ArrayImages(np.concatenate(images), np.concatenate(labels))


def read_cifar10(source: str, verify: bool, md5: dict[str, str] = CIFAR10_MD5) -> Dataset:
    if source == "download":
        path = download(CIFAR10_URL, download_dir(), CIFAR10_ARCHIVE, md5[CIFAR10_ARCHIVE] if verify else None)
    else:
        path = Path(source)
    files = _cifar_files(path, verify, md5)
    meta = _unpickle(files["batches.meta"], "batches.meta")
    classes = [str(c) for c in meta.get("label_names", [])]
    if len(classes) != 10:
        raise DataError(f"batches.meta: expected 10 label_names, found {classes}")
    return Dataset(
        classes=classes,
        train=_cifar_split(files, CIFAR10_TRAIN, classes),
        test=_cifar_split(files, CIFAR10_TEST, classes),
        origin=(path,),
    )


def read(cfg: DataConfig) -> Dataset:
    return read_cifar10(cfg.source, cfg.verify)
