"""Training metrics and checkpoint previews through DVCLive, one Live directory per model.

DVCLive writes `<dir>/metrics.json` (the latest value of every metric and the step) on every
`next_step`, and appends one row per step to `<dir>/plots/metrics/<name>.tsv`. `dvc exp show`
reads the first while a run is going; `dvc plots` and the VS Code extension read the second.
Checkpoint previews go to `<dir>/plots/images/samples/<iteration>.png`, the naming for which
DVC Studio and VS Code show a step slider.

The step is the training iteration. A killed run resumes from its last checkpoint, so what it
logged after that checkpoint is dropped first (`trim_history`): the resumed run logs those
iterations again, and the history ends up as an uninterrupted run's.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from PIL import Image

from ganlab.io import atomic_path, atomic_write_text

METRICS_DIR = Path("plots/metrics")
IMAGES_DIR = Path("plots/images/samples")


def _read_tsv(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f, delimiter="\t")
        return list(reader.fieldnames or []), list(reader)


def trim_history(live_dir: str | Path, *, keep_until: int) -> None:
    """Drop every row and preview logged after iteration `keep_until`, and rewrite metrics.json
    from the rows kept (values as written, so nothing is re-rounded)."""
    live_dir = Path(live_dir)
    summary: dict = {}
    for tsv in sorted((live_dir / METRICS_DIR).rglob("*.tsv")):
        columns, rows = _read_tsv(tsv)
        kept = [r for r in rows if int(r["step"]) <= keep_until]
        if len(kept) < len(rows):
            with atomic_path(tsv) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
                writer = csv.DictWriter(f, columns, delimiter="\t", lineterminator=os.linesep)
                writer.writeheader()
                writer.writerows(kept)
        if kept:
            summary[tsv.stem] = float(kept[-1][tsv.stem])
    for image in (live_dir / IMAGES_DIR).glob("*.png"):
        if image.stem.isdigit() and int(image.stem) > keep_until:
            image.unlink()
    if summary or (live_dir / "metrics.json").exists():
        atomic_write_text(json.dumps({**summary, "step": keep_until}, indent=4) + "\n", live_dir / "metrics.json")


def logged_losses(live_dir: str | Path) -> tuple[str, ...]:
    """The loss_* metrics a run logged (its family's), loss_d and loss_g first."""
    names = sorted(tsv.stem for tsv in (Path(live_dir) / METRICS_DIR).glob("loss_*.tsv"))
    return tuple(sorted(names, key=lambda n: (n not in ("loss_d", "loss_g"), n)))


def read_history(live_dir: str | Path, name: str) -> tuple[list[int], list[float]]:
    """One logged metric as (iterations, values)."""
    path = Path(live_dir) / METRICS_DIR / f"{name}.tsv"
    _, rows = _read_tsv(path)
    return [int(r["step"]) for r in rows], [float(r[name]) for r in rows]


class TrainingLive:
    """The loop's logger. `resume_at` > 0 continues the history of a run resumed at that
    iteration; 0 starts it afresh (DVCLive clears what an earlier run left)."""

    def __init__(self, live_dir: str | Path, *, resume_at: int) -> None:
        self.dir = Path(live_dir)
        if resume_at > 0:
            trim_history(self.dir, keep_until=resume_at)
        from dvclive import Live  # imports DVC: only where a run logs

        # Inside a stage: no experiment of its own (dvc exp run makes it), no edits to dvc.yaml
        # (the stage declares these files), no report, no system monitor thread.
        self.live = Live(str(self.dir), resume=resume_at > 0, save_dvc_exp=False, dvcyaml=None, report=None)

    def log(self, iteration: int, metrics: dict[str, float], *, preview: Image.Image | None = None) -> None:
        """One row per metric at `iteration`, the preview under that iteration, then a sync of
        metrics.json (and the VS Code extension's step signal)."""
        self.live.step = iteration
        for name, value in metrics.items():
            self.live.log_metric(name, float(value))
        if preview is not None:
            self.live.log_image(f"{IMAGES_DIR.name}/{iteration}.png", preview)
        self.live.next_step()

    def close(self) -> None:
        self.live.end()
