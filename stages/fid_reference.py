"""DVC stage `fid_reference`: data/prepared/test.pt -> Inception statistics (pytorch-fid .npz)."""

import argparse

from ganlab.cli import run_stage, stage_parser
from ganlab.config import load_params
from ganlab.metrics.reference import compute_reference


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    features = compute_reference(
        test_path=args.data, out=args.out, batch_size=params.fid.batch_size, device=params.device
    )
    print(f"reference statistics of {len(features)} test images -> {args.out}")


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    run_stage(main, parser)
