"""DVC stage `fid_reference`: test and train splits -> Inception statistics (pytorch-fid .npz)
and features (test set; an equally large training subset for the real-data floor)."""

import argparse

from ganlab.cli import run_stage, stage_parser
from ganlab.config import load_params
from ganlab.metrics.reference import compute_reference


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    features = compute_reference(
        test_path=args.test,
        train_path=args.train,
        stats_out=args.stats,
        test_features_out=args.test_features,
        train_features_out=args.train_features,
        batch_size=params.fid.batch_size,
        device=params.device,
    )
    print(f"reference: {len(features['test'])} test and {len(features['train'])} train images -> {args.stats}")


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    parser.add_argument("--test", required=True)
    parser.add_argument("--train", required=True)
    parser.add_argument("--stats", required=True)
    parser.add_argument("--test-features", required=True)
    parser.add_argument("--train-features", required=True)
    run_stage(main, parser)
