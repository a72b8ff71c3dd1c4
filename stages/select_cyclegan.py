"""DVC stage `select_cyclegan@<seed>`: metrics/cyclegan/seeds/<seed>/fid.csv -> the checkpoint with the lowest mean
FID of the two directions (metrics/cyclegan/seeds/<seed>/best.json and a copy of it)."""

import argparse

from ganlab.cli import run_stage, stage_parser
from ganlab.metrics.translation_report import select_translator


def main(args: argparse.Namespace) -> None:
    best = select_translator(
        fid_csv=args.fid,
        checkpoints_dir=args.checkpoints,
        test={"a": args.a_test, "b": args.b_test},
        reference={"a": args.a_reference, "b": args.b_reference},
        metrics_out=args.out,
        best_out=args.best,
    )
    print(f"cyclegan: best mean FID {best['cyclegan']['fid']:.3f} at iteration {best['cyclegan']['iteration']}")
    print(f"({best['protocol']['description']})")


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    for name in ("fid", "checkpoints", "a-test", "b-test", "a-reference", "b-reference", "out", "best"):
        parser.add_argument(f"--{name}", required=True)
    run_stage(main, parser)
