"""Sample grids and training curves as lossless PNGs."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: stages run without a display
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from torch import Tensor, nn  # noqa: E402
from torchvision.utils import make_grid  # noqa: E402

from ganlab.io import atomic_path  # noqa: E402
from ganlab.metrics.protocol import count_words, describe  # noqa: E402
from ganlab.metrics.select import best_of  # noqa: E402
from ganlab.sampling import generate  # noqa: E402

SCALE = 4  # 32-pixel samples are too small to judge at 1:1


def grid_image(images: Tensor, *, nrow: int, scale: int = SCALE) -> Image.Image:
    """uint8 N×3×H×W -> one PIL image, upscaled with nearest neighbour (no invented detail)."""
    grid = make_grid(images, nrow=nrow, padding=2, pad_value=255)
    image = Image.fromarray(grid.permute(1, 2, 0).cpu().numpy())
    return image.resize((image.width * scale, image.height * scale), Image.NEAREST)


def save_png(image: Image.Image, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")


def sample_grid(generator: nn.Module, *, n: int = 64, seed: int, class_id: int | None = None) -> Image.Image:
    labels = None if class_id is None else torch.full((n,), class_id, dtype=torch.long)
    images = generate(generator, n=n, batch_size=n, seed=seed, device=torch.device("cpu"), labels=labels)
    return grid_image(images, nrow=math.ceil(math.sqrt(n)))


def class_grid_figure(generator: nn.Module, classes: list[str], *, per_class: int = 10, seed: int) -> plt.Figure:
    """One row per class, labelled with its name."""
    labels = torch.arange(len(classes)).repeat_interleave(per_class)
    images = generate(generator, n=len(labels), batch_size=len(labels), seed=seed, device=torch.device("cpu"), labels=labels)
    grid = grid_image(images, nrow=per_class, scale=2)
    fig, ax = plt.subplots(figsize=(grid.width / 100 + 1.6, grid.height / 100 + 0.2), dpi=100)
    ax.imshow(grid, interpolation="nearest")
    row_height = grid.height / len(classes)
    ax.set_yticks([row_height * (i + 0.5) for i in range(len(classes))], classes)
    ax.set_xticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    fig.tight_layout()
    return fig


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def fid_figure(fid_csvs: dict[str, Path], *, reference_size: int, floor: float | None = None) -> plt.Figure:
    """FID against iteration for every model on one axes, each best point starred, the
    protocol in the title and the real-data floor (training images at the same n) dashed."""
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=100)
    n_samples = set()
    for model, path in fid_csvs.items():
        rows = _read_csv(path)
        n_samples |= {int(r["n_samples"]) for r in rows}
        x, y = [int(r["iteration"]) for r in rows], [float(r["fid"]) for r in rows]
        (line,) = ax.plot(x, y, marker="o", markersize=3, label=model)
        best = best_of(rows)
        bx, by = int(best["iteration"]), float(best["fid"])
        ax.plot(bx, by, marker="*", markersize=14, color=line.get_color(), markeredgecolor="black")
        ax.annotate(f"{by:.1f} @ {bx}", (bx, by), textcoords="offset points", xytext=(6, 8))
    n = max(n_samples)
    if floor is not None:
        ax.axhline(floor, color="gray", linestyle="--", label=f"real training images ({count_words(n)}): {floor:.1f}")
    ax.set(xlabel="iteration", ylabel="FID (lower is better)", title=describe(n_samples=n, reference_size=reference_size))
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def loss_figure(model: str, log_csv: Path) -> plt.Figure:
    rows = _read_csv(log_csv)
    x = [int(r["iteration"]) for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=100)
    for key in ("loss_d", "loss_g"):
        ax.plot(x, [float(r[key]) for r in rows], label=key)
    ax.set(xlabel="iteration", ylabel="loss", title=f"{model} training losses")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def save_figure(fig: plt.Figure, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
