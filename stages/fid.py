"""DVC stage `fid@<model>-<seed>`: FID, KID, precision, recall, density and coverage of every checkpoint
-> metrics/seeds/<seed>/<model>/fid.csv (cached per checkpoint)."""

import argparse

from ganlab.cli import add_seed, run_stage, stage_parser
from ganlab.config import load_params
from ganlab.distributed import relaunch
from ganlab.metrics.evaluate import evaluate_checkpoints
from ganlab.metrics.select import best_of


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    if relaunch(params.distributed.nproc_per_node, params.distributed.max_restarts):
        return  # this script ran again as that many torchrun workers
    rows = evaluate_checkpoints(
        checkpoints_dir=args.checkpoints,
        reference_path=args.reference,
        reference_features_path=args.reference_features,
        cfg=params.fid,
        seed=params.run_seeds(args.seed).curve,
        device=params.device,
        csv_out=args.out,
        cache_path=args.cache,
    )
    if rows is None:
        return  # a torchrun worker other than rank 0
    best = best_of(rows)
    print(f"{len(rows)} checkpoints; best FID {best['fid']:.3f} at iteration {best['iteration']}")


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    add_seed(parser)
    parser.add_argument("--checkpoints", required=True)
    parser.add_argument("--reference", required=True)
    parser.add_argument("--reference-features", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--cache", required=True)
    run_stage(main, parser)
