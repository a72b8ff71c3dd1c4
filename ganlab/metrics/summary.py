"""Every run of `seeds` -> one summary: per model and metric the per-seed values, n, mean, std and
95% CI (metrics/summary.json, a DVC metrics file, so `dvc exp show` shows the mean and CI of each
experiment), and per curve metric the per-seed curves with their mean and band (metrics/curves/).

A run's files live under `<runs>/<seed>/` (metrics/seeds/<seed>/ for the GANs,
metrics/cyclegan/seeds/<seed>/ for the translator). A seed whose files are missing is an error
that names it: a failed run is never averaged away.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from ganlab.errors import GanlabError
from ganlab.io import atomic_write_text
from ganlab.metrics.seeds import SUMMARY_METHOD, summarize

# What a GAN run contributes: name -> (file under the run, how to read the value)
GAN_CURVES = ("fid", "kid", "precision", "recall", "density", "coverage")
TRANSLATION_CURVES = ("fid_ab", "fid_ba", "kid_ab", "kid_ba", "mae_ab", "mae_ba")


def _read_json(path: Path, seed: int) -> dict:
    if not path.is_file():
        raise GanlabError(f"seed {seed}: {path} not found; that run has not finished (or failed): rerun it")
    return json.loads(path.read_text())


def _training_seconds(live_dir: Path, seed: int) -> float:
    """The run's training time (resumes included, waits excluded) at its last logged iteration."""
    summary = _read_json(live_dir / "metrics.json", seed)
    if "seconds" not in summary:
        raise GanlabError(f"seed {seed}: {live_dir / 'metrics.json'} has no 'seconds' (no iteration was logged)")
    return float(summary["seconds"])


def gan_values(run: Path, seed: int, models: list[str]) -> dict[str, dict[str, float]]:
    """model -> metric -> value for one run (metrics/seeds/<seed>/)."""
    best, report = _read_json(run / "best.json", seed), _read_json(run / "report.json", seed)
    out = {}
    for model in models:
        if model not in best or model not in report:
            raise GanlabError(f"seed {seed}: {model} missing from {run / 'best.json'} or {run / 'report.json'}")
        row = report[model]
        values = {
            "best_fid": best[model]["fid"],  # the curve's, at the checkpoint it chose (optimistic)
            "best_iteration": best[model]["iteration"],
            "fid": row["fid"],  # re-scored on fresh latents: the number to quote
            "kid": row["kid"]["mean"],
            **{key: row["prdc"][key] for key in ("precision", "recall", "density", "coverage")},
        }
        if row.get("intra_fid") is not None:
            values["intra_fid"] = row["intra_fid"]
        values["training_seconds"] = _training_seconds(run / model / "live", seed)
        out[model] = values
    return out


def translation_values(run: Path, seed: int) -> dict[str, dict[str, float]]:
    """{"cyclegan": metric -> value} for one run (metrics/cyclegan/seeds/<seed>/): per direction
    the re-scored FID and KID, and the paired MAE where the domains are paired."""
    best, report = _read_json(run / "best.json", seed), _read_json(run / "report.json", seed)
    row = report["cyclegan"]
    values = {"best_fid": best["cyclegan"]["fid"], "best_iteration": best["cyclegan"]["iteration"]}
    for d in ("ab", "ba"):
        values[f"fid_{d}"] = row[d]["fid"]
        values[f"kid_{d}"] = row[d]["kid"]["mean"]
        if "paired" in row[d]:
            values[f"mae_{d}"] = row[d]["paired"]["translation"]["mae"]
    values["training_seconds"] = _training_seconds(run / "live", seed)
    return {"cyclegan": values}


def translation_baselines(run: Path, seed: int) -> dict:
    """What no training changes, from one run: the source as it is (identity) and real images of
    the target (the floor) per direction, and the paired baselines where there are pairs."""
    row = _read_json(run / "report.json", seed)["cyclegan"]
    out = {}
    for d in ("ab", "ba"):
        out[d] = {"identity_kid": row[d]["identity"]["kid"]["mean"], "floor_kid": row[d]["floor"]["kid"]["mean"]}
        if "paired" in row[d]:
            out[d] |= {f"{k}_mae": v["mae"] for k, v in row[d]["paired"].items() if isinstance(v, dict) and "mae" in v}
            out[d].pop("translation_mae", None)
    return out


def aggregate(per_seed: dict[int, dict[str, dict[str, float]]]) -> dict:
    """seed -> model -> metric -> value  =>  model -> metric -> {values, n, mean, std, CI}.

    A metric every seed has is summarized; one only some seeds have is an error naming them."""
    seeds = sorted(per_seed)
    models = list(per_seed[seeds[0]])
    out = {}
    for model in models:
        metrics = {}
        names = list(dict.fromkeys(k for s in seeds for k in per_seed[s][model]))
        for name in names:
            lacking = [s for s in seeds if name not in per_seed[s][model]]
            if lacking:
                raise GanlabError(f"{model}.{name}: seeds {lacking} lack it while others have it")
            values = [float(per_seed[s][model][name]) for s in seeds]
            metrics[name] = {"values": values, **summarize(values)}
        out[model] = metrics
    return out


def curve_rows(tables: dict[int, list[dict]], metric: str) -> list[dict]:
    """Per-seed rows of one curve metric, then its mean and 95% band at every iteration all seeds
    scored (a run still being scored does not pull the mean down to fewer seeds)."""
    rows, by_iteration = [], {}
    for seed, table in sorted(tables.items()):
        for r in table:
            if r.get(metric) is None:
                continue
            rows.append({"iteration": r["iteration"], "seed": str(seed), "value": r[metric]})
            by_iteration.setdefault(r["iteration"], []).append(r[metric])
    for iteration in sorted(by_iteration):
        values = by_iteration[iteration]
        if len(values) != len(tables):
            continue
        s = summarize(values)
        rows.append(
            {"iteration": iteration, "seed": "mean", "value": s["mean"], "ci95_low": s["ci95_low"],
             "ci95_high": s["ci95_high"]}
        )  # fmt: skip
    return rows


def read_table(path: Path, seed: int) -> list[dict]:
    """A fid.csv as numbers (empty cells: None)."""
    if not path.is_file():
        raise GanlabError(f"seed {seed}: {path} not found; that run has not been scored (or failed): rerun it")
    with open(path, newline="") as f:
        return [{k: (float(v) if v not in ("", None) else None) for k, v in r.items()} for r in csv.DictReader(f)]


def write_curves(curves: dict[str, dict[str, list[dict]]], out_dir: Path) -> list[Path]:
    """metrics/curves/<metric>.csv: model, seed (or "mean"), iteration, value, ci95_low, ci95_high,
    the long format the `band` plot template draws (thin per-seed lines, the mean and its band)."""
    written = []
    for metric, per_model in curves.items():
        buf = io.StringIO()
        columns = ("model", "seed", "iteration", "value", "ci95_low", "ci95_high")
        writer = csv.DictWriter(buf, columns, lineterminator="\n")
        writer.writeheader()
        for model, rows in per_model.items():
            for r in rows:
                writer.writerow({"model": model, **{k: _cell(v) for k, v in r.items()}})
        atomic_write_text(buf.getvalue(), out_dir / f"{metric}.csv")
        written.append(out_dir / f"{metric}.csv")
    return written


def _cell(value):
    if isinstance(value, float):
        return "" if np.isnan(value) else f"{value:.6g}"
    return "" if value is None else value


def summarize_runs(
    *, runs: Path, seeds: list[int], models: list[str], summary_out: Path, curves_out: Path
) -> tuple[dict, dict]:
    """Read every seed's run under `runs`, write summary.json and the curve tables; returns
    (summary, curves: metric -> model -> rows)."""
    runs = Path(runs)
    translation = models == ["cyclegan"]
    per_seed, tables = {}, {model: {} for model in models}
    for seed in seeds:
        run = runs / str(seed)
        per_seed[seed] = translation_values(run, seed) if translation else gan_values(run, seed, models)
        for model in models:
            tables[model][seed] = read_table(run / model / "fid.csv" if not translation else run / "fid.csv", seed)
    summary = {"method": SUMMARY_METHOD, "seeds": list(seeds), **aggregate(per_seed)}
    first = runs / str(seeds[0])
    report = _read_json(first / "report.json", seeds[0])
    summary["protocol"] = {
        "report": report["protocol"]["description"],
        "curve": _read_json(first / "best.json", seeds[0])["protocol"]["description"],
    }
    if translation:
        summary["baselines"] = translation_baselines(first, seeds[0])
    elif "floor" in report:
        summary["floor"] = {"fid": report["floor"]["fid"], **report["floor"]["prdc"]}
    names = TRANSLATION_CURVES if translation else GAN_CURVES
    curves = {m: {model: curve_rows(tables[model], m) for model in models} for m in names}
    atomic_write_text(json.dumps(summary, indent=2) + "\n", summary_out)
    write_curves(curves, Path(curves_out))
    return summary, curves
