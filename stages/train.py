"""DVC stages `train@<model>` and `train_cyclegan`: prepared training split(s) -> models/<model>/
(+ train_log.csv)."""

import argparse

from ganlab.cli import run_stage, stage_parser
from ganlab.config import load_params
from ganlab.training.loop import train


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    train(
        args.model,
        params.model(args.model),
        seed=params.seed,
        device=params.device,
        data_paths=args.data,
        out_dir=args.out,
        log_path=args.log,
    )


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True, action="append", help="a prepared split (cyclegan: A, then B)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--log", required=True)
    run_stage(main, parser)
