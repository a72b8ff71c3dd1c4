"""Sample grids and training curves as lossless PNGs."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: stages run without a display
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from torch import Tensor, nn  # noqa: E402

from ganlab.io import atomic_path  # noqa: E402
from ganlab.metrics.fid import FrechetReference, load_statistics, reference_info  # noqa: E402
from ganlab.metrics.kid import kid  # noqa: E402
from ganlab.metrics.prdc import METRICS as PRDC_METRICS  # noqa: E402
from ganlab.metrics.prdc import PRDC_K, prdc  # noqa: E402
from ganlab.metrics.protocol import count_words, describe  # noqa: E402
from ganlab.metrics.reference import floor_fid, load_features  # noqa: E402
from ganlab.metrics.select import read_fid_csv  # noqa: E402
from ganlab.sampling import generate  # noqa: E402
from ganlab.training.checkpoints import list_snapshots, load_generator, snapshot_iteration  # noqa: E402
from ganlab.training.live import read_history  # noqa: E402
from ganlab.viz.grids import grid_image  # noqa: E402
from ganlab.viz.interpolation import alphas, interpolate_classes, interpolate_latents, resolve_class  # noqa: E402

PROGRESS_ROWS = 12


def save_png(image: Image.Image, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")


def sample_grid(generator: nn.Module, *, n: int = 64, seed: int, class_id: int | None = None) -> Image.Image:
    labels = None if class_id is None else torch.full((n,), class_id, dtype=torch.long)
    images = generate(generator, n=n, batch_size=n, seed=seed, device=torch.device("cpu"), labels=labels)
    return grid_image(images, nrow=math.ceil(math.sqrt(n)))


def labelled_grid_figure(
    images: Tensor,
    *,
    ncol: int,
    row_labels: list[str] | None = None,
    col_labels: list[str] | None = None,
    cell: int = 64,
) -> plt.Figure:
    """A grid of uint8 images (row-major, `ncol` per row) with optional row and column labels,
    each image upscaled (nearest) to about `cell` pixels."""
    grid = grid_image(images, nrow=ncol, scale=max(1, cell // images.shape[-1]))
    nrows = math.ceil(len(images) / ncol)
    fig, ax = plt.subplots(figsize=(grid.width / 100 + 1.6, grid.height / 100 + 0.5), dpi=100)
    ax.imshow(grid, interpolation="nearest")
    ax.set_yticks([grid.height / nrows * (i + 0.5) for i in range(nrows)] if row_labels else [], row_labels or [])
    ax.set_xticks([grid.width / ncol * (j + 0.5) for j in range(ncol)] if col_labels else [], col_labels or [])
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    fig.tight_layout()
    return fig


def class_grid_figure(generator: nn.Module, classes: list[str], *, per_class: int = 10, seed: int) -> plt.Figure:
    """One row per class, labelled with its name; unlabelled rows of samples for an
    unconditional generator, so the stage's outputs do not depend on the data's labels."""
    if not generator.num_classes:
        images = generate(generator, n=8 * per_class, batch_size=8 * per_class, seed=seed, device=torch.device("cpu"))
        return labelled_grid_figure(images, ncol=per_class)
    labels = torch.arange(len(classes)).repeat_interleave(per_class)
    images = generate(
        generator, n=len(labels), batch_size=len(labels), seed=seed, device=torch.device("cpu"), labels=labels
    )
    return labelled_grid_figure(images, ncol=per_class, row_labels=classes)


def progress_iterations(iterations: list[int], *, best: int, rows: int = PROGRESS_ROWS) -> list[int]:
    """At most `rows` checkpoints spread evenly over training, always with the first, the best
    and the last."""
    iterations = sorted(iterations)
    if len(iterations) <= rows:
        return iterations
    picked = {iterations[round(i * (len(iterations) - 1) / (rows - 1))] for i in range(rows)}
    if best not in picked:  # swap the best in for the nearest pick that is neither end
        inner = sorted(picked - {iterations[0], iterations[-1]}, key=lambda it: abs(it - best))
        picked = (picked - {inner[0]}) | {best}
    return sorted(picked)


def progress_figure(checkpoints: list[Path], *, best: int, seed: int, per_row: int = 10) -> plt.Figure:
    """The same latents (and, when conditional, one image per class) drawn at each chosen
    checkpoint, one row per checkpoint labelled with its iteration."""
    by_iteration = {snapshot_iteration(p): p for p in checkpoints}
    chosen = progress_iterations(list(by_iteration), best=best)
    rows = []
    for it in chosen:
        generator, _ = load_generator(by_iteration[it])
        rows.append(generate(generator, n=per_row, batch_size=per_row, seed=seed, device=torch.device("cpu")))
    labels = [f"{it} (best)" if it == best else str(it) for it in chosen]
    return labelled_grid_figure(torch.cat(rows), ncol=per_row, row_labels=labels)


def interpolation_figure(images: Tensor, *, steps: int, names: tuple[str, str]) -> plt.Figure:
    """Rows of `interpolate_classes` output, columns labelled by α, the ends by class name."""
    cols = [f"{a:.2f}" for a in alphas(steps)]
    cols[0], cols[-1] = f"{names[0]}\nα=1", f"{names[1]}\nα=0"
    return labelled_grid_figure(images, ncol=steps, col_labels=cols)


def curve_figure(
    fid_csvs: dict[str, Path],
    *,
    metric: str,
    reference_size: int,
    reference_split: str,
    reference_pool: int = 0,
    floor: tuple[float, int] | None = None,
) -> plt.Figure:
    """FID or KID (`metric`: "fid" or "kid", KID shown ×10³ with its ±std band) against iteration
    for every model on one axes, each best point starred, the protocol in the title and the
    real-data floor (value, n: real images outside the reference, as many as the curve generated
    where there are that many) dashed."""
    scale = 1e3 if metric == "kid" else 1.0
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=100)
    n_samples = set()
    for model, path in fid_csvs.items():
        rows = [r for r in read_fid_csv(path) if metric in r]
        if not rows:
            continue
        n_samples |= {r["n_samples"] for r in rows}
        x, y = [r["iteration"] for r in rows], [r[metric] * scale for r in rows]
        (line,) = ax.plot(x, y, marker="o", markersize=3, label=model)
        if metric == "kid":
            std = [r["kid_std"] * scale for r in rows]
            ax.fill_between(x, [a - b for a, b in zip(y, std)], [a + b for a, b in zip(y, std)], alpha=0.2)
        best = min(rows, key=lambda r: (r[metric], r["iteration"]))
        bx, by = best["iteration"], best[metric] * scale
        ax.plot(bx, by, marker="*", markersize=14, color=line.get_color(), markeredgecolor="black")
        ax.annotate(f"{by:.1f} @ {bx}", (bx, by), textcoords="offset points", xytext=(6, 8))
    n = max(n_samples)
    if floor is not None:
        value, n_floor = floor
        other = "training" if reference_split == "test" else "test"
        label = f"real {other} images ({count_words(n_floor)}): {value * scale:.1f}"
        ax.axhline(value * scale, color="gray", linestyle="--", label=label)
    name = "KID" if metric == "kid" else "FID"
    title = describe(
        n_samples=n,
        reference_size=reference_size,
        reference_split=reference_split,
        reference_pool=reference_pool,
        metric=name,
    )
    ylabel = "KID ×10³ (lower is better)" if metric == "kid" else "FID (lower is better)"
    ax.set(xlabel="iteration", ylabel=ylabel, title=title)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def prdc_figure(fid_csvs: dict[str, Path], *, title: str, floor: dict[str, float] | None = None) -> plt.Figure:
    """Precision, recall, density and coverage against iteration, one panel each, every model on
    each, the real-data floor's value dashed. Low recall beside high precision is collapse; low
    precision is artefacts (docs/evaluation.md)."""
    fig, axes = plt.subplots(2, 2, figsize=(9, 6), dpi=100, sharex=True)
    tables = {model: read_fid_csv(path) for model, path in fid_csvs.items()}
    for ax, metric in zip(axes.flat, PRDC_METRICS):
        for model, table in tables.items():
            rows = [r for r in table if metric in r]
            ax.plot([r["iteration"] for r in rows], [r[metric] for r in rows], marker="o", markersize=3, label=model)
        if floor is not None:
            ax.axhline(floor[metric], color="gray", linestyle="--", label=f"real images: {floor[metric]:.2f}")
        ax.set(title=metric, ylim=(0, max(1.05, ax.get_ylim()[1])))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in axes[1]:
        ax.set_xlabel("iteration")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def loss_figure(model: str, live_dir: Path, keys: tuple[str, ...] = ("loss_d", "loss_g")) -> plt.Figure:
    """Training losses (`keys`) from the run's DVCLive history."""
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=100)
    for key in keys:
        ax.plot(*read_history(live_dir, key), label=key)
    ax.set(xlabel="iteration", ylabel="loss", title=f"{model} training losses")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def save_figure(fig: plt.Figure, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        # "tight" grows the canvas to fit long row labels ("Smileys & Emotion") instead of clipping them.
        fig.savefig(tmp, format="png", bbox_inches="tight", pad_inches=0.05)
    plt.close(fig)


def render_plots(
    *,
    best: dict[str, Path],
    checkpoints: dict[str, Path],
    fid_csvs: dict[str, Path],
    lives: dict[str, Path],
    reference_stats: Path,
    reference_features: Path,
    floor_features: Path,
    out: Path,
    seed: int,
    interpolate: list[int],
    class_grids: list[str],
) -> list[Path]:
    """Everything the render stage writes into `out`: per model an 8×8 grid of its best
    checkpoint and a progress grid; for the models in `class_grids` a class grid and a class
    interpolation (unlabelled samples and a latent interpolation when the model turned out
    unconditional); the loss curves; the FID and KID curves with the real-data floor.

    `interpolate`: two class ids, or [] for the first and the last class."""
    out = Path(out)
    written = []

    def save(thing, name: str) -> None:
        (save_png if isinstance(thing, Image.Image) else save_figure)(thing, out / name)
        written.append(out / name)

    for model, checkpoint in best.items():
        generator, meta = load_generator(checkpoint)
        save(sample_grid(generator, n=64, seed=seed), f"{model}_samples.png")
        save(
            progress_figure(list_snapshots(checkpoints[model]), best=meta["iteration"], seed=seed),
            f"{model}_progress.png",
        )
        if model not in class_grids:
            continue
        classes = list(meta["classes"])
        save(class_grid_figure(generator, classes, seed=seed), f"{model}_classes.png")
        if generator.num_classes:
            a, b = (resolve_class(c, classes, what="render.interpolate") for c in interpolate or [0, len(classes) - 1])
            images = interpolate_classes(generator, a=a, b=b, steps=8, rows=4, seed=seed)
            names = (classes[a], classes[b])
        else:
            images, names = interpolate_latents(generator, steps=8, rows=4, seed=seed), ("z_A", "z_B")
        save(interpolation_figure(images, steps=8, names=names), f"{model}_interpolation.png")
    for model, live_dir in lives.items():
        save(loss_figure(model, live_dir), f"{model}_loss.png")
    n_curve = max(r["n_samples"] for path in fid_csvs.values() for r in read_fid_csv(path))
    floors = CurveFloors.of(reference_stats, reference_features, floor_features, n_curve=n_curve)
    save(prdc_figure(fid_csvs, title=floors.prdc_title, floor=floors.prdc), "prdc.png")
    for metric in ("fid", "kid"):
        figure = curve_figure(fid_csvs, metric=metric, **floors.reference, floor=getattr(floors, metric))
        save(figure, f"{metric}.png")
    return written


@dataclass(frozen=True, kw_only=True)
class CurveFloors:
    """The real-data floor of the curve protocol (`n_curve` real images outside the reference),
    and the reference's description, for every curve figure."""

    fid: tuple[float, int]
    kid: tuple[float, int]
    prdc: dict[str, float]
    reference: dict  # reference_size, reference_split, reference_pool
    n_samples: int  # generated per checkpoint on the curve

    def title(self, metric: str) -> str:
        return describe(n_samples=self.n_samples, **self.reference, metric=metric)

    @property
    def prdc_title(self) -> str:
        return self.title(f"precision, recall, density, coverage (k = {PRDC_K})")

    @classmethod
    def of(cls, reference_stats: Path, reference_features: Path, floor_features: Path, *, n_curve: int) -> CurveFloors:
        stats = load_statistics(reference_stats)
        floor_feats = load_features(floor_features)[0][:n_curve]
        ref_feats = load_features(reference_features)[0]
        split, size, pool = reference_info(stats, reference_stats)
        return cls(
            fid=floor_fid(floor_feats, FrechetReference(stats["mu"], stats["sigma"]), n=n_curve),
            kid=(kid(floor_feats, ref_feats)["mean"], len(floor_feats)),
            prdc=prdc(floor_feats, ref_feats),
            reference=dict(reference_size=size, reference_split=split, reference_pool=pool),
            n_samples=n_curve,
        )
