"""DVC stages `summarize` and `summarize_cyclegan`: every run of `seeds` -> metrics/summary.json
(per model and metric: per-seed values, n, mean, std, 95% CI), the curve tables over seeds
(metrics/curves/) and their figures: each seed thin, the mean with its 95% band."""

import argparse
from pathlib import Path

from ganlab.cli import run_stage, stage_parser
from ganlab.config import load_params
from ganlab.metrics.summary import read_table, summarize_runs
from ganlab.viz.render import CurveFloors
from ganlab.viz.render_bands import gan_band_figures, save_figures, translation_band_figure


def main(args: argparse.Namespace) -> None:
    seeds = load_params(args.params).seeds
    summary, curves = summarize_runs(
        runs=args.runs, seeds=seeds, models=args.models, summary_out=args.summary, curves_out=args.curves
    )
    if args.models == ["cyclegan"]:
        figures = {"curves": translation_band_figure(curves, summary["baselines"], title=summary["protocol"]["curve"])}
    else:
        n_curve = max(int(r["n_samples"]) for r in _first_rows(args.runs, seeds[0], args.models))
        floors = CurveFloors.of(args.reference, args.reference_features, args.floor_features, n_curve=n_curve)
        figures = gan_band_figures(curves, floors)
    save_figures(figures, Path(args.plots))
    for model in args.models:
        for name, s in summary[model].items():
            ci = f" [{s['ci95_low']:.4g}, {s['ci95_high']:.4g}]" if s["ci95_low"] is not None else " (one seed: no CI)"
            print(f"{model} {name}: {s['mean']:.4g}{ci}, n = {s['n']}")
    print(f"({summary['method']})")


def _first_rows(runs: str, seed: int, models: list[str]) -> list[dict]:
    return [r for model in models for r in read_table(Path(runs) / str(seed) / model / "fid.csv", seed)]


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    parser.add_argument("--runs", required=True, help="the folder holding one folder per seed")
    parser.add_argument("--models", nargs="+", required=True)
    parser.add_argument("--summary", required=True)
    parser.add_argument("--curves", required=True, help="folder of the curve tables")
    parser.add_argument("--plots", required=True, help="folder of the figures")
    parser.add_argument("--reference", help="GANs: reference statistics, for the floor")
    parser.add_argument("--reference-features")
    parser.add_argument("--floor-features")
    run_stage(main, parser)
