"""DVC stage `reference_cyclegan`: each domain's test images -> its Inception statistics and
features, with as many of its training images for the floor (data/cyclegan/fid/{a,b}.npz)."""

import argparse

from ganlab.cli import run_stage, stage_parser
from ganlab.config import load_params
from ganlab.metrics.reference import compute_translation_reference


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    compute_translation_reference(
        test={"a": args.a_test, "b": args.b_test},
        train={"a": args.a_train, "b": args.b_train},
        out={"a": args.a_out, "b": args.b_out},
        batch_size=params.fid.batch_size,
        device=params.device,
    )


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    for name in ("a-train", "a-test", "b-train", "b-test", "a-out", "b-out"):
        parser.add_argument(f"--{name}", required=True)
    run_stage(main, parser)
