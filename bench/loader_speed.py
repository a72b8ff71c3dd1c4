"""Can the memory-mapped loader keep up with training? Random batches from a prepared split on
disk (cold page cache and warm), against the training step's own rate at the same resolution.

    python bench/loader_speed.py [--resolution 128] [--n 20000] [--batch-size 64] [--device auto]

Writes a prepared split of `n` random images (n·3·R² bytes: 0.98 GB at the defaults) to a temp
folder, exactly as `prepare` does, evicts it from the page cache (posix_fadvise DONTNEED), then
draws batches exactly as training does (ganlab.training.batches.RealBatches: uniform random
indices, gathered from the memory map, converted to float). It prints images/s cold and warm,
and the img/s of each model's training step at its params.yaml widths, fp32.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ganlab.config import MODEL_SECTIONS, load_params
from ganlab.data.prepared import load_split, write_split
from ganlab.sampling import resolve_device
from ganlab.training import state as training_state
from ganlab.training.batches import RealBatches
from ganlab.training.gan import build_state, make_step


class RandomImages:
    """`n` random images, generated chunk by chunk like `prepare` streams a folder (the Images
    interface of ganlab.data.base)."""

    def __init__(self, n: int, chunk: int = 2048) -> None:
        self.n, self.chunk, self.labels = n, chunk, np.arange(n) % 10

    def __len__(self) -> int:
        return self.n

    def decoded(self, resolution: int):
        rng = np.random.default_rng(0)
        for start in range(0, self.n, self.chunk):
            size = (min(self.chunk, self.n - start), 3, resolution, resolution)
            yield from ((str(start + i), image) for i, image in enumerate(rng.integers(0, 256, size, dtype=np.uint8)))


def evict(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())
        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def loader_rate(folder: Path, *, batch_size: int, batches: int, device: torch.device) -> float:
    split = load_split(folder)
    rng = torch.Generator(device=device).manual_seed(0)
    real = RealBatches(split, rng=rng, memory_format=training_state.MEMORY_FORMAT)
    start = time.perf_counter()
    for _ in range(batches):
        images, _ = real.batch(batch_size)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return batches * batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--resolution", type=int, default=128, choices=(32, 64, 128))
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--device", default=None, help="overrides params.yaml `device`")
    parser.add_argument("--steps", type=int, default=3, help="training steps timed per model")
    args = parser.parse_args()
    params = load_params(args.params)
    device = resolve_device(args.device or params.device)

    with tempfile.TemporaryDirectory(dir=".") as tmp:
        folder = Path(tmp) / "train"
        folder.mkdir()
        start = time.perf_counter()
        classes = [str(c) for c in range(10)]
        write_split(RandomImages(args.n), classes=classes, resolution=args.resolution, folder=folder, on_bad=None)
        size = (folder / "images.npy").stat().st_size
        print(f"prepared split: {args.n} images at {args.resolution} px, {size / 1e9:.2f} GB, "
              f"written in {time.perf_counter() - start:.1f} s")  # fmt: skip
        evict(folder / "images.npy")
        cold = loader_rate(folder, batch_size=args.batch_size, batches=args.batches, device=device)
        warm = loader_rate(folder, batch_size=args.batch_size, batches=args.batches, device=device)
        print(f"loader, batch {args.batch_size}, {device}: page cache cold {cold:,.0f} img/s, warm {warm:,.0f} img/s")

        for name in MODEL_SECTIONS:
            cfg = dataclasses.replace(params.model(name), batch_size=args.batch_size, precision="fp32", compile=False)
            state = build_state(name, cfg, num_classes=10, resolution=args.resolution, seed=0, device=device)
            real = RealBatches(load_split(folder), rng=state.rng, memory_format=training_state.MEMORY_FORMAT)
            step = make_step(state, cfg, real_batches=real)
            step()  # warm-up
            start = time.perf_counter()
            for _ in range(args.steps):
                step()
            rate = args.steps * args.batch_size * cfg.n_dis / (time.perf_counter() - start)
            print(f"train step {name} ({cfg.g_ch}/{cfg.d_ch}, fp32): {rate:,.1f} real img/s "
                  f"-> the cold loader is {cold / rate:,.0f}x faster")  # fmt: skip


if __name__ == "__main__":
    main()
