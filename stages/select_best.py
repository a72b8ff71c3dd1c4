"""DVC stage `select@<seed>`: both fid.csv of a run -> metrics/seeds/<seed>/best.json and
models/seeds/<seed>/best/<model>.pt."""

import argparse

from ganlab.cli import add_seed, run_stage, stage_parser
from ganlab.config import load_params
from ganlab.metrics.select import select_best


def main(args: argparse.Namespace) -> None:
    seed = load_params(args.params).run_seeds(args.seed).curve  # the curve's latent seed, for the protocol block
    inputs = {model: (fid_csv, checkpoints) for model, fid_csv, checkpoints in args.input}
    best = select_best(inputs, reference_stats=args.reference, seed=seed, metrics_out=args.out, best_dir=args.best_dir)
    for model in inputs:
        print(f"{model}: best FID {best[model]['fid']:.3f} at iteration {best[model]['iteration']}")
    print(f"({best['protocol']['description']})")


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    add_seed(parser)
    parser.add_argument("--input", nargs=3, action="append", required=True, metavar=("MODEL", "FID_CSV", "CHECKPOINTS"))
    parser.add_argument("--reference", required=True, help="the reference statistics (for its size)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--best-dir", required=True)
    run_stage(main, parser)
