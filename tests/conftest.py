"""Synthetic datasets in the exact official formats, and a params factory with tiny settings."""

from __future__ import annotations

import copy
import gzip
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def write_cifar10(root: Path, *, per_batch: int = 20, seed: int = 0) -> dict:
    """Write `cifar-10-batches-py/` as the official python version lays it out.

    Returns the source arrays so tests can compare pixels and labels exactly.
    """
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    arrays = {}
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        labels = [int(x) for x in np.arange(per_batch) % 10]
        batch = {
            "batch_label": f"{name} of 5",
            "labels": labels,
            "data": data,
            "filenames": [f"img_{name}_{i}.png" for i in range(per_batch)],
        }
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
        arrays[name] = (data, np.asarray(labels))
    meta = {"num_cases_per_batch": per_batch, "label_names": CIFAR_CLASSES, "num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    (folder / "readme.html").write_text("synthetic")
    return arrays


def tar_cifar10(root: Path) -> Path:
    archive = root / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    return archive


def write_fashion_mnist(root: Path, *, n_train: int = 30, n_test: int = 20, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        header = (0x803).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in (n, 28, 28))
        (root / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(header + images.tobytes()))
        header = (0x801).to_bytes(4, "big") + n.to_bytes(4, "big")
        (root / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(header + labels.tobytes()))
        arrays[prefix] = (images, labels)
    return arrays


def committed_params() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())


def tiny_params(**overrides) -> dict:
    """The committed params, shrunk so a model trains for a few iterations in a second on CPU."""
    p = copy.deepcopy(committed_params())
    p["device"] = "cpu"
    for name in ("dcgan", "sagan"):
        p[name].update(iterations=4, batch_size=8, ckpt_every=2, log_every=1, g_ch=16, d_ch=16)
    p["sagan"].update(ema_start=1, z_dim=16)
    p["dcgan"].update(z_dim=16)
    p["fid"].update(n_samples=16, batch_size=16)
    p["report"].update(n_samples=20)
    for key, value in overrides.items():
        section, _, name = key.rpartition(".")
        (p[section] if section else p)[name] = value
    return p


@pytest.fixture
def cifar_dir(tmp_path) -> tuple[Path, dict]:
    return tmp_path, write_cifar10(tmp_path)


@pytest.fixture
def prepared(tmp_path) -> Path:
    """A small prepared train split as `stages/prepare.py` writes it."""
    import torch

    g = torch.Generator().manual_seed(0)
    path = tmp_path / "train.pt"
    torch.save(
        {
            "images": torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8, generator=g),
            "labels": torch.arange(64) % 10,
            "classes": CIFAR_CLASSES,
        },
        path,
    )
    return path
