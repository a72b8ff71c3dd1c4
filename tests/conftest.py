"""Synthetic datasets in the exact official formats, and a params factory with tiny settings."""

from __future__ import annotations

import copy
import gzip
import json
import os
import pickle
import signal
import subprocess
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    # Every test, and every stage a test runs, scores with one fixed Inception pass instead of
    # timing the candidates once per machine (about 15 s, longer beside other tests): the same
    # features on every machine. tests/test_fid.py tests the choice itself.
    os.environ.setdefault("GANLAB_INCEPTION_PASS", "nhwc:8")
    # pytest-xdist runs one worker per core; each worker's torch would take every core's thread
    # too, and the workers' threads would then fight over the cores
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        import torch

        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


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


def write_image_folder(root: Path, layout: dict[str, int], *, size: int = 40) -> None:
    """`layout`: class folder -> image count ("" for images directly in `root`). Images are PNG,
    alternating RGB, RGBA (half transparent) and greyscale, each a different flat colour plus
    noise, so that every file decodes to different bytes."""
    from PIL import Image

    rng = np.random.default_rng(0)
    modes = ("RGB", "RGBA", "L")
    for k, (name, count) in enumerate(sorted(layout.items())):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            mode = modes[i % 3]
            pixels = rng.integers(0, 256, size=(size, size, len(mode)), dtype=np.uint8)
            if mode == "RGBA":
                pixels[: size // 2, :, 3] = 0
            Image.fromarray(pixels.squeeze(-1) if mode == "L" else pixels, mode).save(folder / f"{i:03d}.png")


def kill_when(cmd: list[str], *, appears: Path, cwd=None, env=None, timeout: float = 300) -> None:
    """Run `cmd` in its own process group and SIGKILL the whole group (dvc and the stage it runs)
    as soon as the file `appears` exists."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    deadline = time.time() + timeout
    while not appears.exists():
        assert proc.poll() is None and time.time() < deadline, f"{cmd[0]} ended before it could be killed"
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def assert_same_history(a: Path, b: Path, *, steps: list[int], rtol: float = 0.0, earlier: tuple = ()) -> None:
    """Two DVCLive directories hold the same training history: every metric at exactly `steps`
    with equal values (timings aside; within `rtol` if given), and the same previews
    (byte-identical unless `rtol`), but for `a`'s `earlier` previews (checkpoints of a cadence
    it had before)."""
    import torch

    from ganlab.training.live import read_history

    names = {p.stem for p in (a / "plots/metrics").glob("*.tsv")}
    assert names and names == {p.stem for p in (b / "plots/metrics").glob("*.tsv")}
    for name in names - {"it_per_s", "seconds"}:
        (steps_a, values_a), (steps_b, values_b) = read_history(a, name), read_history(b, name)
        assert steps_a == steps_b == steps, name
        torch.testing.assert_close(torch.tensor(values_a), torch.tensor(values_b), rtol=rtol, atol=rtol, msg=name)
    previews = [sorted(p for p in (d / "plots/images/samples").iterdir() if p.name not in earlier) for d in (a, b)]
    assert [p.name for p in previews[0]] == [p.name for p in previews[1]]
    for x, y in zip(*previews):
        if not rtol:
            assert x.read_bytes() == y.read_bytes(), x.name
        else:  # the pixels of grids drawn from weights equal within rtol: off by a few levels at most
            from PIL import Image

            px, py = (torch.from_numpy(np.asarray(Image.open(f).convert("RGB"), dtype=np.int16)) for f in (x, y))
            assert px.shape == py.shape and (px - py).abs().max() <= 2, x.name
    summaries = [json.loads((d / "metrics.json").read_text()) for d in (a, b)]
    for summary in summaries:
        summary.pop("it_per_s"), summary.pop("seconds")
    assert summaries[0].keys() == summaries[1].keys()
    for key, value in summaries[0].items():
        if isinstance(value, (int, float)):
            torch.testing.assert_close(torch.tensor(float(value)), torch.tensor(float(summaries[1][key])), rtol=rtol,
                                       atol=rtol, msg=key)  # fmt: skip
        else:
            assert value == summaries[1][key], key


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
    p["cyclegan"].update(
        iterations=4, batch_size=4, ckpt_every=2, log_every=1, g_ch=4, d_ch=4, n_res_blocks=1, resolution=32,
        nce_layers=[0, 4, 7, 10], nce_patches=32,  # CUT's layers in a 1-block translator
    )  # fmt: skip
    p["fid"].update(n_samples=16, batch_size=16)
    p["report"].update(n_samples=20)
    for key, value in overrides.items():
        section, _, name = key.rpartition(".")
        (p[section] if section else p)[name] = value
    return p


def save_test_snapshot(
    path: Path, name: str, *, classes: list[str], iteration: int, resolution: int = 32, num_classes: int | None = None
) -> None:
    """A freshly initialised generator saved as a training snapshot, with tiny params."""
    from ganlab.config import parse_params, to_dict
    from ganlab.models import build_generator
    from ganlab.training.checkpoints import save_snapshot

    cfg = parse_params(tiny_params()).model(name)
    n = len(classes) if num_classes is None else num_classes
    G = build_generator(name, cfg, num_classes=n, resolution=resolution)
    config = {"model": name, "seed": 0, "data_digest": "x", "resolution": resolution, "params": to_dict(cfg)}
    save_snapshot(path, generator=G, config=config, iteration=iteration, classes=classes, resolution=resolution)


@pytest.fixture
def cifar_dir(tmp_path) -> tuple[Path, dict]:
    return tmp_path, write_cifar10(tmp_path)


def write_prepared(folder: Path, images: np.ndarray, labels: np.ndarray, classes: list[str]) -> Path:
    """A prepared split folder as `stages/prepare.py` writes it."""
    from ganlab.data.base import ArrayImages
    from ganlab.data.prepared import write_split

    folder.mkdir(parents=True)
    write_split(ArrayImages(images, labels), classes=classes, resolution=images.shape[-1], folder=folder, on_bad=None)
    return folder


@pytest.fixture
def prepared(tmp_path) -> Path:
    """A small prepared train split (64 random CIFAR-shaped images) at tmp_path/train."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(64, 3, 32, 32), dtype=np.uint8)
    return write_prepared(tmp_path / "train", images, np.arange(64) % 10, CIFAR_CLASSES)


def write_domains(root, *, n=10, size=32):
    """Two flat folders of RGB PNGs with the same file names, B the negative of A: a paired fixture."""
    write_image_folder(root / "a", {"": n}, size=size)
    (root / "b").mkdir(parents=True, exist_ok=True)
    from PIL import Image

    for path in sorted((root / "a").glob("*.png")):
        pixels = np.asarray(Image.open(path).convert("RGB"))
        Image.fromarray(pixels).save(path)
        Image.fromarray(255 - pixels).save(root / "b" / path.name)


@pytest.fixture
def domains(tmp_path):
    """Two prepared folder domains of 10 images (7 train, 3 test) and a tiny params.yaml for them."""
    from ganlab.config import parse_params
    from ganlab.data.domains import prepare_domains

    write_domains(tmp_path / "img")
    p = tiny_params(**{"cyclegan.source": str(tmp_path / "img"), "cyclegan.domain_a": "folder:a",
                       "cyclegan.domain_b": "folder:b", "data.test_fraction": 0.3})  # fmt: skip
    params = parse_params(p)
    outs = {d: (tmp_path / f"data/{d}/train", tmp_path / f"data/{d}/test") for d in "ab"}
    counts = prepare_domains(params.cyclegan, params.data, outs=outs, bad_out=tmp_path / "data/bad.txt")
    assert counts == {"a/train": 7, "a/test": 3, "b/train": 7, "b/test": 3}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(p))
    return tmp_path
