"""DVC stage `render_cyclegan@<seed>`: translation grids of fixed test images (both directions), their
progress over checkpoints, FID and paired-error curves, and the training losses."""

import argparse

from ganlab.cli import run_stage, stage_parser
from ganlab.viz.render_translation import render_translation


def main(args: argparse.Namespace) -> None:
    render_translation(
        best=args.best,
        checkpoints=args.checkpoints,
        fid_csv=args.fid,
        live=args.live,
        report=args.report,
        test={"a": args.a_test, "b": args.b_test},
        out={"ab": args.a2b, "ba": args.b2a, "progress": args.progress, "curves": args.curves, "loss": args.loss},
    )


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    names = ("best", "checkpoints", "fid", "live", "report", "a-test", "b-test")
    for name in (*names, "a2b", "b2a", "progress", "curves", "loss"):
        parser.add_argument(f"--{name}", required=True)
    run_stage(main, parser)
