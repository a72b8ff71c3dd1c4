"""Compare configurations over training seeds: each one's mean ± 95% CI per metric, and each pair's
difference with its Welch CI, "inconclusive" where that CI contains 0.

    python -m ganlab.compare EXP [EXP ...] [--out compare] [--metrics fid recall ...] [--across-models]

EXP is an experiment name from `dvc exp show`, a git revision, or `workspace` (the files on disk).
Each one's metrics/summary.json and metrics/cyclegan/summary.json (the `summarize` stages) are
read; the table goes to stdout and to OUT.md and OUT.json.

With several experiments each model is compared with itself across them; with one experiment (or
--across-models) the models are compared with each other too, e.g. DCGAN against cSAGAN.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

from ganlab.errors import GanlabError
from ganlab.io import atomic_write_text
from ganlab.metrics.seeds import DIFFERENCE_METHOD, welch_difference

SUMMARIES = ("metrics/summary.json", "metrics/cyclegan/summary.json")
# What a table shows by default, in this order (others with --metrics); lower or higher is better.
DEFAULT_METRICS = {
    "fid": "lower", "best_fid": "lower", "kid": "lower", "intra_fid": "lower", "precision": "higher",
    "recall": "higher", "density": "higher", "coverage": "higher", "kid_ab": "lower", "kid_ba": "lower",
    "mae_ab": "lower", "mae_ba": "lower", "fid_ab": "lower", "fid_ba": "lower", "training_seconds": "lower",
}  # fmt: skip
META_KEYS = {"method", "seeds", "protocol", "floor", "baselines"}


def read_summaries(name: str, *, repo: str | Path = ".") -> dict[str, dict]:
    """summary path -> its contents, for one experiment (or `workspace`); missing ones left out."""
    out = {}
    for path in SUMMARIES:
        if name == "workspace":
            file = Path(repo) / path
            if file.is_file():
                out[path] = json.loads(file.read_text())
            continue
        import dvc.api  # here, not at import time: DVC is slow to import and only this path needs it
        from dvc.exceptions import PathMissingError
        from dvc.scm import RevError

        try:
            out[path] = json.loads(dvc.api.read(path, repo=str(repo), rev=name))
        except PathMissingError:
            continue  # that family's summarize never ran in this experiment
        except RevError:
            raise GanlabError(f"{name}: no such experiment or revision (names: `dvc exp show`)") from None
        except Exception as e:  # listed in its dvc.lock, but not in this repository's DVC cache
            raise GanlabError(f"{name}: {path} cannot be read ({type(e).__name__}: {e}); `dvc exp pull` it") from None
    if not out:
        raise GanlabError(f"{name}: holds no {' or '.join(SUMMARIES)}; run its `summarize` stage (dvc exp run)")
    return out


def rows_of(name: str, summaries: dict[str, dict]) -> list[dict]:
    """One row per model of an experiment: its metrics' per-seed values and summary."""
    rows = []
    for path, summary in summaries.items():
        for model, metrics in summary.items():
            if model in META_KEYS:
                continue
            row = {"experiment": name, "model": model, "family": path, "seeds": summary.get("seeds")}
            rows.append(row | {"metrics": metrics})
    return rows


def compare(rows: list[dict], *, metrics: list[str] | None = None, across_models: bool = False) -> dict:
    """The comparison of `rows` (rows_of): each pair of rows of one model (and, with
    across_models, of different models of one family: GANs with GANs) on every metric both hold."""
    names = metrics or [m for m in DEFAULT_METRICS if any(m in r["metrics"] for r in rows)]
    differences = []
    for a, b in itertools.combinations(rows, 2):
        if a["model"] != b["model"] and not (across_models and a["family"] == b["family"]):
            continue
        for metric in names:
            if metric not in a["metrics"] or metric not in b["metrics"]:
                continue
            d = welch_difference(a["metrics"][metric]["values"], b["metrics"][metric]["values"])
            differences.append({"a": label(a), "b": label(b), "metric": metric, **d})
    return {"method": DIFFERENCE_METHOD, "metrics": names, "rows": rows, "differences": differences}


def label(row: dict) -> str:
    return f"{row['experiment']} · {row['model']}"


def _mean_ci(s: dict) -> str:
    if s.get("ci95_half") is None:
        return f"{_num(s['mean'])} (n = {s['n']}, no CI)"
    return f"{_num(s['mean'])} ± {_num(s['ci95_half'])} (n = {s['n']})"


def _num(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 1 else f"{x:.1f}" if abs(x) < 1000 else f"{x:.0f}"


def _verdict(d: dict) -> str:
    if d["verdict"] == "inconclusive":
        return "inconclusive (the CI contains 0)" if d["ci95_low"] is not None else "inconclusive (fewer than 2 seeds)"
    better = DEFAULT_METRICS.get(d["metric"])
    word = "lower" if d["verdict"] == "lower" else "higher"
    if better is None:
        return f"{d['a']} {word}"
    return f"{d['a']} {'better' if word == better else 'worse'} ({word})"


def to_markdown(result: dict) -> str:
    lines = ["Mean ± 95% CI half-width over training seeds (n = seeds)."]
    for family in dict.fromkeys(r["family"] for r in result["rows"]):
        rows = [r for r in result["rows"] if r["family"] == family]
        metrics = [m for m in result["metrics"] if any(m in r["metrics"] for r in rows)]
        lines += ["", f"From {family}:", ""]
        lines.append("| experiment · model | " + " | ".join(metrics) + " |")
        lines.append("| --- |" + " --- |" * len(metrics))
        for row in rows:
            cells = [_mean_ci(row["metrics"][m]) if m in row["metrics"] else "" for m in metrics]
            lines.append(f"| {label(row)} | " + " | ".join(cells) + " |")
    if result["differences"]:
        lines += ["", "| a − b | metric | difference [95% CI] | verdict |", "| --- | --- | --- | --- |"]
        for d in result["differences"]:
            ci = f"[{_num(d['ci95_low'])}, {_num(d['ci95_high'])}]" if d["ci95_low"] is not None else "(no CI)"
            lines.append(f"| {d['a']} − {d['b']} | {d['metric']} | {_num(d['difference'])} {ci} | {_verdict(d)} |")
    lines += ["", f"Method: {result['method']}."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("experiments", nargs="+", metavar="EXP", help="names from `dvc exp show`, or workspace")
    parser.add_argument("--out", default="compare", help="writes OUT.md and OUT.json (default: compare)")
    parser.add_argument("--metrics", nargs="+", help=f"default: those of {list(DEFAULT_METRICS)} present")
    parser.add_argument("--across-models", action="store_true", help="also compare different models")
    parser.add_argument("--repo", default=".", help="the ganlab repository (default: here)")
    args = parser.parse_args(argv)
    try:
        rows = [row for name in args.experiments for row in rows_of(name, read_summaries(name, repo=args.repo))]
    except GanlabError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    result = compare(rows, metrics=args.metrics, across_models=args.across_models or len(args.experiments) == 1)
    text = to_markdown(result)
    print(text, end="")
    atomic_write_text(text, f"{args.out}.md")
    atomic_write_text(json.dumps(result, indent=2) + "\n", f"{args.out}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
