"""DVC stage `fid_cyclegan@<seed>`: FID, KID and paired error of every checkpoint in both directions
-> metrics/cyclegan/seeds/<seed>/fid.csv (cached per checkpoint)."""

import argparse

from ganlab.cli import run_stage, stage_parser
from ganlab.config import load_params
from ganlab.metrics.select import best_of
from ganlab.metrics.translation import evaluate_translation_checkpoints


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    rows = evaluate_translation_checkpoints(
        checkpoints_dir=args.checkpoints,
        test={"a": args.a_test, "b": args.b_test},
        reference={"a": args.a_reference, "b": args.b_reference},
        cfg=params.fid,
        device=params.device,
        csv_out=args.out,
        cache_path=args.cache,
    )
    best = best_of(rows)
    print(f"{len(rows)} checkpoints; best mean FID {best['fid']:.3f} at iteration {best['iteration']}")


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    for name in ("checkpoints", "a-test", "b-test", "a-reference", "b-reference", "out", "cache"):
        parser.add_argument(f"--{name}", required=True)
    run_stage(main, parser)
