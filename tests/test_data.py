import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from ganlab.config import DataConfig
from ganlab.data import (
    CIFAR10_MD5,
    FASHION_MNIST_MD5,
    DataError,
    load_split,
    prepare,
    read_cifar10,
    read_fashion_mnist,
)
from ganlab.io import file_digest
from tests.conftest import CIFAR_CLASSES, tar_cifar10, write_cifar10, write_fashion_mnist

FASHION_DEBIAN = Path("/usr/share/datasets/fashion-mnist")


def _expected(arrays, names):
    data = np.concatenate([arrays[n][0] for n in names]).reshape(-1, 3, 32, 32)
    labels = np.concatenate([arrays[n][1] for n in names])
    return torch.from_numpy(data), torch.from_numpy(labels)


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
    train, test = read_cifar10(str(source), verify=True, md5=md5)
    images, labels = _expected(arrays, [f"data_batch_{i}" for i in range(1, 6)])
    assert torch.equal(train.images, images) and torch.equal(train.labels, labels)
    images, labels = _expected(arrays, ["test_batch"])
    assert torch.equal(test.images, images) and torch.equal(test.labels, labels)
    assert train.labels.dtype == torch.int64 and train.classes == CIFAR_CLASSES


def test_prepare_writes_loadable_splits(tmp_path):
    write_cifar10(tmp_path / "src")
    cfg = DataConfig(dataset="cifar10", source=str(tmp_path / "src"), verify=False)
    prepare(cfg, train_out=tmp_path / "out/train.pt", test_out=tmp_path / "out/test.pt")
    split = load_split(tmp_path / "out/train.pt")
    assert split.images.shape == (100, 3, 32, 32) and split.images.dtype == torch.uint8
    assert split.classes == CIFAR_CLASSES
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["test.pt", "train.pt"]


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
    cfg = DataConfig(dataset="cifar10", source=str(archive), verify=False)
    out = tmp_path / "out"
    with pytest.raises(DataError):
        prepare(cfg, train_out=out / "train.pt", test_out=out / "test.pt")
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
    train, test = read_fashion_mnist(str(tmp_path), verify=False)
    for split, prefix in ((train, "train"), (test, "t10k")):
        images, labels = arrays[prefix]
        assert split.images.shape == (len(images), 3, 32, 32)
        for c in range(3):
            assert torch.equal(split.images[:, c, 2:30, 2:30], torch.from_numpy(images))
        border = split.images.clone()
        border[:, :, 2:30, 2:30] = 0
        assert border.eq(0).all()
        assert torch.equal(split.labels, torch.from_numpy(labels.astype(np.int64)))


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
def test_real_fashion_mnist(tmp_path):
    cfg = DataConfig(dataset="fashion_mnist", source=str(FASHION_DEBIAN), verify=True)
    train, test = prepare(cfg, train_out=tmp_path / "train.pt", test_out=tmp_path / "test.pt")
    assert train.images.shape == (60000, 3, 32, 32) and test.images.shape == (10000, 3, 32, 32)
    assert torch.bincount(train.labels).tolist() == [6000] * 10
    assert torch.bincount(test.labels).tolist() == [1000] * 10


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
