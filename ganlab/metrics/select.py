"""Pick each model's best checkpoint by FID (ties go to the earlier iteration)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

from ganlab.errors import GanlabError
from ganlab.io import atomic_path, atomic_write_text
from ganlab.training.checkpoints import snapshot_path


def best_of(rows: list[dict]) -> dict:
    """The row with the lowest FID; ties go to the earlier iteration."""
    return min(rows, key=lambda r: (float(r["fid"]), int(r["iteration"])))


def best_row(fid_csv: str | Path) -> dict:
    fid_csv = Path(fid_csv)
    if not fid_csv.is_file():
        raise GanlabError(f"{fid_csv}: FID table not found; run the fid stage first")
    with open(fid_csv, newline="") as f:
        rows = [{"iteration": int(r["iteration"]), "fid": float(r["fid"])} for r in csv.DictReader(f)]
    if not rows:
        raise GanlabError(f"{fid_csv}: no FID rows")
    return best_of(rows)


def select_best(inputs: dict[str, tuple[Path, Path]], *, metrics_out: str | Path, best_dir: str | Path) -> dict:
    """`inputs`: model -> (fid.csv, its checkpoints folder). Writes best.json and best/<model>.pt."""
    best = {}
    for model, (fid_csv, checkpoints_dir) in inputs.items():
        row = best_row(fid_csv)
        source = snapshot_path(checkpoints_dir, row["iteration"])
        if not source.is_file():
            raise GanlabError(f"{source}: best checkpoint listed in {fid_csv} does not exist")
        with atomic_path(Path(best_dir) / f"{model}.pt") as tmp:
            shutil.copyfile(source, tmp)
        best[model] = row
    atomic_write_text(json.dumps(best, indent=2) + "\n", metrics_out)
    return best
