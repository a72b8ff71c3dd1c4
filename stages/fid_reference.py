"""DVC stage `fid_reference`: the prepared splits -> Inception statistics of the reference split
(`fid.reference`, pytorch-fid's .npz) and features of it and of the floor's real images."""

import argparse

from ganlab.cli import run_stage, stage_parser
from ganlab.config import load_params
from ganlab.metrics.reference import compute_reference


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    features = compute_reference(
        reference=params.fid.reference,
        reference_size=params.fid.reference_size,
        test_path=args.test,
        train_path=args.train,
        stats_out=args.stats,
        reference_features_out=args.reference_features,
        floor_features_out=args.floor_features,
        batch_size=params.fid.batch_size,
        device=params.device,
    )
    print(
        f"reference: {len(features['reference'])} {params.fid.reference} images -> {args.stats}; "
        f"floor: {len(features['floor'])} real images from outside it"
    )


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    parser.add_argument("--test", required=True)
    parser.add_argument("--train", required=True)
    parser.add_argument("--stats", required=True)
    parser.add_argument("--reference-features", required=True)
    parser.add_argument("--floor-features", required=True)
    run_stage(main, parser)
