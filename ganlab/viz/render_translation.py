"""Pictures of a translator pair (CycleGAN): translations of fixed test images, their progress over
checkpoints, and the curves of FID and paired error beside the "do nothing" baseline."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import Tensor

from ganlab.data.prepared import Split, load_split
from ganlab.metrics.translation import DIRECTIONS, pair_indices
from ganlab.sampling import translate
from ganlab.training.checkpoints import list_snapshots, load_translators, snapshot_iteration
from ganlab.training.live import logged_losses
from ganlab.viz.render import labelled_grid_figure, loss_figure, progress_iterations, save_figure

N_SOURCES = 8


def fixed_sources(source: Split, target: Split, n: int = N_SOURCES) -> tuple[np.ndarray, np.ndarray | None]:
    """n test images spread evenly over the source split, preferring ones with a twin in the
    target split; returns their positions and their twins' positions (None without pairs)."""
    i, j = pair_indices(source.keys, target.keys)
    pool = i if len(i) else np.arange(len(source.labels))
    pick = np.unique(np.linspace(0, len(pool) - 1, min(n, len(pool))).round().astype(int))
    return pool[pick], (j[pick] if len(i) else None)


def _translate(net, images: Tensor) -> Tensor:
    return translate(net, images, batch_size=len(images), device=torch.device("cpu"))


def translation_figure(translators: dict, test: dict[str, Split], direction: str) -> plt.Figure:
    """One row per fixed test image: source, its translation, the translation translated back,
    and the real image of the same key in the target domain where there is one."""
    key, s, t = DIRECTIONS[direction]
    back = DIRECTIONS["ba" if direction == "ab" else "ab"][0]
    idx, twins = fixed_sources(test[s], test[t])
    source = test[s].images[idx]
    forward = _translate(translators[key], source)
    columns = [source, forward, _translate(translators[back], forward)]
    names = [s.upper(), f"{s.upper()}→{t.upper()}", f"{s.upper()}→{t.upper()}→{s.upper()}"]
    if twins is not None:
        columns.append(test[t].images[twins])
        names.append(f"real {t.upper()}")
    images = torch.stack(columns, dim=1).flatten(0, 1)  # row-major: one source per row
    row_labels = [_short(test[s].keys[i]) for i in idx] if test[s].keys else None
    return labelled_grid_figure(images, ncol=len(columns), row_labels=row_labels, col_labels=names, cell=128)


def _short(key: str, width: int = 18) -> str:
    return key if len(key) <= width else key[: width - 1] + "…"


def translation_progress_figure(checkpoints: list[Path], test: dict[str, Split], *, best: int) -> plt.Figure:
    """The fixed test images of A translated to B by each chosen checkpoint, one row per
    checkpoint, between the sources (top) and their real twins in B (bottom) where paired."""
    idx, twins = fixed_sources(test["a"], test["b"])
    by_iteration = {snapshot_iteration(p): p for p in checkpoints}
    chosen = progress_iterations(list(by_iteration), best=best)
    rows, labels = [test["a"].images[idx]], ["A (test)"]
    for it in chosen:
        translators, _ = load_translators(by_iteration[it])
        rows.append(_translate(translators["g_ab"], test["a"].images[idx]))
        labels.append(f"{it} (best)" if it == best else str(it))
    if twins is not None:
        rows.append(test["b"].images[twins])
        labels.append("real B")
    return labelled_grid_figure(torch.cat(rows), ncol=len(idx), row_labels=labels, cell=96)


def translation_curves(fid_csv: Path, report: dict) -> plt.Figure:
    """FID per direction and, where paired, MAE per direction against iteration; dashed: the
    report's "do nothing" baseline (the source images as they are) of the same colour; dotted:
    the recolouring oracle (each source fitted to its twin's colours, a bound, not a translator)."""
    with open(fid_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    x = [int(r["iteration"]) for r in rows]
    paired = any(r["mae_ab"] for r in rows)
    fig, axes = plt.subplots(1, 2 if paired else 1, figsize=(12 if paired else 7, 4.2), dpi=100, squeeze=False)
    n = rows[0]["n_samples"] if rows else "?"
    for ax, (metric, name) in zip(axes[0], (("fid", "FID"), ("mae", "paired MAE (0-255)"))):
        for direction in DIRECTIONS:
            (line,) = ax.plot(
                x,
                [float(r[f"{metric}_{direction}"]) for r in rows],
                marker="o",
                markersize=3,
                label=f"{direction[0].upper()}→{direction[1].upper()}",
            )
            entry = report["cyclegan"][direction]
            paired = entry.get("paired", {})
            baselines = (
                [("--", "as is (identity)", entry["identity"]["fid"])]
                if metric == "fid"
                else [
                    ("--", "as is (identity)", paired.get("identity", {}).get("mae")),
                    (":", "recoloured to its twin (oracle)", paired.get("recolour_oracle", {}).get("mae")),
                ]
            )
            for style, what, value in baselines:
                if value is not None:
                    ax.axhline(
                        value,
                        color=line.get_color(),
                        linestyle=style,
                        alpha=0.7,
                        label=f"{direction[0].upper()} {what}: {value:.1f}",
                    )
        ax.set(xlabel="iteration", ylabel=f"{name} (lower is better)", title=f"{name}, {n} test images per direction")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def render_translation(
    *,
    best: Path,
    checkpoints: Path,
    fid_csv: Path,
    live: Path,
    report: Path,
    test: dict[str, Path],
    out: dict[str, Path],
) -> None:
    """Write the translation grids of both directions, the progress grid, the curves and the losses."""
    translators, meta = load_translators(best)
    splits = {d: load_split(test[d]) for d in "ab"}
    for direction in DIRECTIONS:
        save_figure(translation_figure(translators, splits, direction), out[direction])
    progress = translation_progress_figure(list_snapshots(checkpoints), splits, best=int(meta["iteration"]))
    save_figure(progress, out["progress"])
    save_figure(translation_curves(fid_csv, json.loads(Path(report).read_text())), out["curves"])
    # the family's terms (CycleGAN's cycle and identity, CUT's NCE terms); loss_g is G's whole objective
    model = meta["config"]["params"].get("model", "cyclegan")  # snapshots from before CUT have no key
    save_figure(loss_figure(model, live, keys=logged_losses(live)), out["loss"])
