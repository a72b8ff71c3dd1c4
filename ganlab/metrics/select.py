"""Pick each model's best checkpoint by FID (ties go to the earlier iteration)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

from ganlab.errors import GanlabError
from ganlab.io import atomic_path, atomic_write_text, load_checkpoint
from ganlab.metrics.fid import load_statistics, reference_info
from ganlab.metrics.protocol import protocol
from ganlab.training.checkpoints import snapshot_path


def best_of(rows: list[dict]) -> dict:
    """The row with the lowest FID; ties go to the earlier iteration."""
    return min(rows, key=lambda r: (float(r["fid"]), int(r["iteration"])))


def read_fid_csv(fid_csv: str | Path) -> list[dict]:
    fid_csv = Path(fid_csv)
    if not fid_csv.is_file():
        raise GanlabError(f"{fid_csv}: FID table not found; run the fid stage first")
    with open(fid_csv, newline="") as f:
        rows = [
            {"iteration": int(r["iteration"]), "fid": float(r["fid"]), "n_samples": int(r["n_samples"])}
            | {k: float(r[k]) for k in ("kid", "kid_std", "precision", "recall", "density", "coverage") if r.get(k)}
            for r in csv.DictReader(f)
        ]
    if not rows:
        raise GanlabError(f"{fid_csv}: no FID rows")
    return rows


def copy_best(row: dict, *, fid_csv: str | Path, checkpoints_dir: str | Path, out: str | Path) -> Path:
    """Copy the snapshot of `row`'s iteration to `out` (atomically); returns the snapshot's path."""
    source = snapshot_path(checkpoints_dir, row["iteration"])
    if not source.is_file():
        raise GanlabError(f"{source}: best checkpoint listed in {fid_csv} does not exist")
    with atomic_path(out) as tmp:
        shutil.copyfile(source, tmp)
    return source


def select_best(
    inputs: dict[str, tuple[Path, Path]],
    *,
    reference_stats: str | Path,
    seed: int,
    metrics_out: str | Path,
    best_dir: str | Path,
) -> dict:
    """`inputs`: model -> (fid.csv, its checkpoints folder). Writes best.json and best/<model>.pt.

    best.json holds each model's chosen iteration and its curve FID, with the curve's protocol.
    """
    best, n_samples = {}, set()
    for model, (fid_csv, checkpoints_dir) in inputs.items():
        rows = read_fid_csv(fid_csv)
        row = best_of(rows)
        n_samples |= {r["n_samples"] for r in rows}
        source = copy_best(row, fid_csv=fid_csv, checkpoints_dir=checkpoints_dir, out=Path(best_dir) / f"{model}.pt")
        precision = load_checkpoint(source)["config"]["params"].get("precision", "fp32")
        best[model] = {"iteration": row["iteration"], "fid": row["fid"], "precision": precision}
    if len(n_samples) != 1:
        raise GanlabError(f"FID tables mix n_samples {sorted(n_samples)}; re-run the fid stages")
    split, size, pool = reference_info(load_statistics(reference_stats), reference_stats)
    out = {
        "protocol": protocol(
            n_samples=n_samples.pop(), reference_size=size, reference_split=split, reference_pool=pool, seed=seed
        ),
        **best,
    }
    atomic_write_text(json.dumps(out, indent=2) + "\n", metrics_out)
    return out
