import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from ganlab.config import parse_params
from ganlab.data.base import DataError
from ganlab.data.cifar10 import CIFAR10_MD5, read_cifar10
from ganlab.data.fashion_mnist import FASHION_MNIST_MD5, read_fashion_mnist
from ganlab.data.prepare import prepare
from ganlab.data.prepared import load_split
from ganlab.io import file_digest
from tests.conftest import CIFAR_CLASSES, committed_params, tar_cifar10, write_cifar10, write_fashion_mnist

FASHION_DEBIAN = Path("/usr/share/datasets/fashion-mnist")


def _expected(arrays, names):
    data = np.concatenate([arrays[n][0] for n in names]).reshape(-1, 3, 32, 32)
    labels = np.concatenate([arrays[n][1] for n in names])
    return data, labels


def data_config(**overrides):
    """The committed `data` section with `overrides`, validated."""
    p = committed_params()
    p["data"].update(overrides)
    return parse_params(p).data


def prepare_to(root, cfg):
    return prepare(cfg, train_out=root / "train", test_out=root / "test", bad_out=root / "bad_files.txt")


def _synthetic_md5(root: Path) -> dict:
    folder = root / "cifar-10-batches-py"
    md5 = {name: file_digest(folder / name) for name in CIFAR10_MD5 if (folder / name).exists()}
    if (root / "cifar-10-python.tar.gz").exists():
        md5["cifar-10-python.tar.gz"] = file_digest(root / "cifar-10-python.tar.gz")
    return md5


@pytest.mark.parametrize("form", ["folder", "parent_folder", "archive", "archive_folder"])
def test_cifar10_prepares_exactly(tmp_path, form):
    arrays = write_cifar10(tmp_path / "src")
    archive = tar_cifar10(tmp_path / "src")
    if form.startswith("archive"):
        shutil.rmtree(tmp_path / "src" / "cifar-10-batches-py")
    source = {
        "folder": tmp_path / "src" / "cifar-10-batches-py",
        "parent_folder": tmp_path / "src",
        "archive": archive,
        "archive_folder": tmp_path / "src",
    }[form]
    md5 = dict(CIFAR10_MD5, **{k: v for k, v in _synthetic_md5(tmp_path / "src").items()})
    if form.startswith("archive"):
        md5["cifar-10-python.tar.gz"] = file_digest(archive)
    dataset = read_cifar10(str(source), verify=True, md5=md5)
    train, test = dataset.train, dataset.test
    images, labels = _expected(arrays, [f"data_batch_{i}" for i in range(1, 6)])
    assert np.array_equal(train.images, images) and np.array_equal(train.labels, labels)
    images, labels = _expected(arrays, ["test_batch"])
    assert np.array_equal(test.images, images) and np.array_equal(test.labels, labels)
    assert train.labels.dtype == np.int64 and dataset.classes == CIFAR_CLASSES


# sha256 of the image and label arrays that ganlab's prepare wrote before the memory-mapped
# format (torch.save'd tensors, commit 229ed56), for the synthetic CIFAR-10 of write_cifar10
# (per_batch 20) and for Debian's real Fashion-MNIST. The prepared bytes must not change.
CIFAR_SYNTHETIC_SHA256 = {
    "train": ("7375396424096b186f92bce0fe9aaab2ba19a757a4f7ee8651b2f17eae5fc790",
              "a1a25ef3c369a09a3c0f02d5d6eb5959a99739cc54a5fef762b54628f6327165"),
    "test": ("e5ecf0298b523ad327bade9622dbe6c4107a29e10ca3c0a1f0d16ff54c30e8c1",
             "2aaca1e2252f1fc4fa45cdb95d642fbd431c26995aaac57d93e7a5255e26d949"),
}  # fmt: skip
FASHION_MNIST_SHA256 = {
    "train": ("846a49eb4ccfa0f914bc4e08682435d1b2148b4ca7004a7791965eadf5b3dcba",
              "e3245b63f7c40d1c8b652835f19744d970c1613b40ddac6bcfc87b9c46e16a0b"),
    "test": ("b7bf46ea44eb809196dd27258341693cbefdc4f6f8107647e4cd09bc3314832a",
             "d51d859896c55775b9e9e219b77ff03bcec1b6ac322f313544dc3f9e7bc94fae"),
}  # fmt: skip


def _array_digests(folder):
    split = load_split(folder)
    return tuple(hashlib.sha256(a.numpy().tobytes()).hexdigest() for a in (split.images, split.labels))


def test_prepare_writes_memory_mapped_splits_with_the_same_bytes_as_before(tmp_path):
    write_cifar10(tmp_path / "src", per_batch=20)
    counts = prepare_to(tmp_path / "out", data_config(dataset="cifar10", source=str(tmp_path / "src"), verify=False))
    assert counts["train"] == {c: 10 for c in CIFAR_CLASSES} and counts["test"] == {c: 2 for c in CIFAR_CLASSES}
    split = load_split(tmp_path / "out/train")
    assert split.images.shape == (100, 3, 32, 32) and split.images.dtype == torch.uint8
    assert split.classes == CIFAR_CLASSES and split.resolution == 32
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["bad_files.txt", "test", "train"]
    assert (tmp_path / "out/bad_files.txt").read_text() == ""
    images = np.load(tmp_path / "out/train/images.npy", mmap_mode="r")
    assert isinstance(images, np.memmap)  # training reads it memory-mapped, never whole
    for name in ("train", "test"):
        assert _array_digests(tmp_path / "out" / name) == CIFAR_SYNTHETIC_SHA256[name]


def test_cifar10_checksum_mismatch_is_named(tmp_path):
    write_cifar10(tmp_path)  # synthetic files cannot match the published md5s
    with pytest.raises(DataError, match=r"data_batch_1: md5 [0-9a-f]{32} does not match the published c99caf"):
        read_cifar10(str(tmp_path), verify=True)


def test_cifar10_truncated_archive_is_named_and_nothing_is_written(tmp_path):
    write_cifar10(tmp_path / "src")
    archive = tar_cifar10(tmp_path / "src")
    shutil.rmtree(tmp_path / "src" / "cifar-10-batches-py")
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(DataError, match=r"cifar-10-python.tar.gz: truncated or corrupt archive"):
        read_cifar10(str(archive), verify=False)
    with pytest.raises(DataError, match=r"cifar-10-python.tar.gz: md5 .*truncated download"):
        read_cifar10(str(archive), verify=True)
    out = tmp_path / "out"
    with pytest.raises(DataError):
        prepare_to(out, data_config(dataset="cifar10", source=str(archive), verify=False))
    assert not out.exists() or not any(out.iterdir())


def test_cifar10_missing_file_is_named(tmp_path):
    write_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "test_batch").unlink()
    with pytest.raises(DataError, match=r"test_batch: missing CIFAR-10 file"):
        read_cifar10(str(tmp_path), verify=False)
    with pytest.raises(DataError, match=r"does not exist"):
        read_cifar10(str(tmp_path / "nowhere"), verify=False)


def test_fashion_mnist_pads_and_repeats_channels(tmp_path):
    arrays = write_fashion_mnist(tmp_path)
    dataset = read_fashion_mnist(str(tmp_path), verify=False)
    for split, prefix in ((dataset.train, "train"), (dataset.test, "t10k")):
        images, labels = arrays[prefix]
        assert split.images.shape == (len(images), 3, 32, 32)
        for c in range(3):
            assert np.array_equal(split.images[:, c, 2:30, 2:30], images)
        border = split.images.copy()
        border[:, :, 2:30, 2:30] = 0
        assert (border == 0).all()
        assert np.array_equal(split.labels, labels.astype(np.int64))


def test_fashion_mnist_checksum_and_truncation(tmp_path):
    write_fashion_mnist(tmp_path)
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz: md5 .* does not match the published 8d4fb7"):
        read_fashion_mnist(str(tmp_path), verify=True)
    md5 = dict(FASHION_MNIST_MD5)
    md5.update({p.name: file_digest(p) for p in tmp_path.iterdir()})
    read_fashion_mnist(str(tmp_path), verify=True, md5=md5)  # matching checksums pass
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte.gz: truncated or corrupt gzip"):
        read_fashion_mnist(str(tmp_path), verify=False)


@pytest.mark.skipif(not FASHION_DEBIAN.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_real_fashion_mnist_prepares_the_same_bytes_as_before(tmp_path):
    counts = prepare_to(tmp_path, data_config(dataset="fashion_mnist", source=str(FASHION_DEBIAN), verify=True))
    assert list(counts["train"].values()) == [6000] * 10 and list(counts["test"].values()) == [1000] * 10
    assert load_split(tmp_path / "train").images.shape == (60000, 3, 32, 32)
    for name in ("train", "test"):
        assert _array_digests(tmp_path / name) == FASHION_MNIST_SHA256[name]


def test_builtin_datasets_resize_to_64(tmp_path):
    arrays = write_fashion_mnist(tmp_path / "src")
    prepare_to(tmp_path / "out", data_config(dataset="fashion_mnist", source=str(tmp_path / "src"), verify=False,
                                             resolution=64))  # fmt: skip
    split = load_split(tmp_path / "out/test")
    assert split.images.shape == (20, 3, 64, 64) and split.resolution == 64
    assert np.array_equal(split.labels.numpy(), arrays["t10k"][1])


def test_failed_download_is_a_clear_error(tmp_path, monkeypatch):
    from urllib.error import URLError

    import torchvision.datasets.utils as tv_utils

    def offline(*args, **kwargs):
        raise URLError("[Errno -2] Name or service not known")

    monkeypatch.setenv("GANLAB_DATA_CACHE", str(tmp_path))
    monkeypatch.setattr(tv_utils, "download_url", offline)
    with pytest.raises(DataError, match=r"could not download https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"):
        read_cifar10("download", verify=True)
    with pytest.raises(DataError, match=r"could not download http.*train-images-idx3-ubyte.gz.*set data.source"):
        read_fashion_mnist("download", verify=True)
