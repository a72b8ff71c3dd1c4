"""DVC stage `render@<seed>`: a run's best generators, checkpoints and metric tables -> PNG grids and
curves in plots/seeds/<seed>/."""

import argparse
from pathlib import Path

from ganlab.cli import add_seed, run_stage, stage_parser
from ganlab.config import load_params
from ganlab.viz.render import render_plots


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    written = render_plots(
        best={model: Path(p) for model, p in args.best},
        checkpoints={model: Path(p) for model, p in args.checkpoints},
        fid_csvs={model: Path(p) for model, p in args.fid},
        lives={model: Path(p) for model, p in args.live},
        reference_stats=Path(args.reference),
        reference_features=Path(args.reference_features),
        floor_features=Path(args.floor_features),
        out=Path(args.out),
        seed=params.run_seeds(args.seed).curve,
        interpolate=params.render.interpolate,
        class_grids=args.class_grids,
    )
    print(f"wrote {sorted(p.name for p in written)}")


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    add_seed(parser)
    pair = dict(nargs=2, action="append", required=True)
    parser.add_argument("--best", **pair, metavar=("MODEL", "CHECKPOINT"))
    parser.add_argument("--checkpoints", **pair, metavar=("MODEL", "FOLDER"), help="for the progress grids")
    parser.add_argument("--fid", **pair, metavar=("MODEL", "FID_CSV"))
    parser.add_argument("--live", **pair, metavar=("MODEL", "DVCLIVE_DIR"), help="for the loss curves")
    parser.add_argument("--reference", required=True, help="reference statistics, for the floor and the protocol")
    parser.add_argument("--reference-features", required=True, help="reference features, for the KID floor")
    parser.add_argument("--floor-features", required=True, help="features of real images outside the reference")
    parser.add_argument("--class-grids", nargs="+", default=[], metavar="MODEL", help="models to draw class grids of")
    parser.add_argument("--out", required=True)
    run_stage(main, parser)
