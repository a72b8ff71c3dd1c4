"""Curves over training seeds: each seed's curve thin, their mean bold with its 95% band
(ganlab.metrics.summary's rows), the real-data floor or the do-nothing baseline dashed."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from ganlab.metrics.prdc import METRICS as PRDC_METRICS
from ganlab.viz.render import CurveFloors, save_figure

LABELS = {
    "fid": "FID", "kid": "KID ×10³", "fid_ab": "FID, A→B", "fid_ba": "FID, B→A", "kid_ab": "KID ×10³, A→B",
    "kid_ba": "KID ×10³, B→A", "mae_ab": "paired MAE, A→B (0–255)", "mae_ba": "paired MAE, B→A (0–255)",
}  # fmt: skip


def scale_of(metric: str) -> float:
    return 1e3 if metric.startswith("kid") else 1.0


def draw_bands(ax: plt.Axes, per_model: dict[str, list[dict]], *, scale: float = 1.0) -> None:
    """One colour per model: its seeds' curves thin, the mean bold, the 95% CI shaded."""
    for model, rows in per_model.items():
        mean = [r for r in rows if r["seed"] == "mean"]
        seeds = sorted({r["seed"] for r in rows} - {"mean"}, key=int)
        (line,) = ax.plot(
            [r["iteration"] for r in mean], [r["value"] * scale for r in mean], linewidth=2.2,
            label=f"{model}, mean of {len(seeds)} seed{'s' * (len(seeds) != 1)}",
        )  # fmt: skip
        for seed in seeds:
            own = [r for r in rows if r["seed"] == seed]
            ax.plot([r["iteration"] for r in own], [r["value"] * scale for r in own], color=line.get_color(),
                    linewidth=0.7, alpha=0.5)  # fmt: skip
        band = [r for r in mean if r.get("ci95_low") is not None]
        if band:
            ax.fill_between(
                [r["iteration"] for r in band], [r["ci95_low"] * scale for r in band],
                [r["ci95_high"] * scale for r in band], color=line.get_color(), alpha=0.2, linewidth=0,
                label=f"{model}, 95% CI (Student's t)",
            )  # fmt: skip
    ax.set_xlabel("iteration")
    ax.grid(alpha=0.3)


def gan_band_figures(curves: dict[str, dict[str, list[dict]]], floors: CurveFloors) -> dict[str, plt.Figure]:
    """fid.png, kid.png and prdc.png over seeds, each with the floor of the curve's protocol."""
    figures = {}
    for metric in ("fid", "kid"):
        fig, ax = plt.subplots(figsize=(7, 4.2), dpi=100)
        draw_bands(ax, curves[metric], scale=scale_of(metric))
        value, n_floor = getattr(floors, metric)
        ax.axhline(value * scale_of(metric), color="gray", linestyle="--", label=f"real images ({n_floor}): "
                   f"{value * scale_of(metric):.1f}")  # fmt: skip
        ax.set(ylabel=f"{LABELS[metric]} (lower is better)", title=floors.title(metric.upper()))
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8)
        fig.tight_layout()
        figures[metric] = fig
    fig, axes = plt.subplots(2, 2, figsize=(9, 6), dpi=100, sharex=True)
    for ax, metric in zip(axes.flat, PRDC_METRICS):
        draw_bands(ax, curves[metric])
        ax.axhline(floors.prdc[metric], color="gray", linestyle="--", label=f"real images: {floors.prdc[metric]:.2f}")
        ax.set(title=metric, ylim=(0, max(1.05, ax.get_ylim()[1])))
        ax.legend(fontsize=7)
    fig.suptitle(floors.prdc_title, fontsize=10)
    fig.tight_layout()
    figures["prdc"] = fig
    return figures


def translation_band_figure(curves: dict[str, dict[str, list[dict]]], baselines: dict, *, title: str) -> plt.Figure:
    """FID, KID and paired MAE per direction over seeds, with "do nothing" (the source as it is)
    dashed where the report measured it."""
    metrics = [m for m in LABELS if m[-3:] in ("_ab", "_ba") and any(curves.get(m, {}).values())]
    fig, axes = plt.subplots(len(metrics) // 2, 2, figsize=(9, 2.8 * (len(metrics) // 2)), dpi=100, squeeze=False)
    for ax, metric in zip(axes.flat, metrics):
        draw_bands(ax, curves[metric], scale=scale_of(metric))
        kind, direction = metric.split("_")
        identity = baselines.get(direction, {}).get(f"identity_{kind}")
        if identity is not None:
            ax.axhline(identity * scale_of(metric), color="gray", linestyle="--", label="identity (do nothing)")
        ax.set(ylabel=LABELS[metric])
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def save_figures(figures: dict[str, plt.Figure], out: Path, *, prefix: str = "") -> list[Path]:
    written = []
    for name, fig in figures.items():
        save_figure(fig, Path(out) / f"{prefix}{name}.png")
        written.append(Path(out) / f"{prefix}{name}.png")
    return written
