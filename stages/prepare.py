"""DVC stage `prepare`: official dataset files -> data/prepared/{train,test}.pt."""

import argparse

from ganlab.cli import run_stage, stage_parser
from ganlab.config import load_params
from ganlab.data import prepare


def main(args: argparse.Namespace) -> None:
    cfg = load_params(args.params).data
    train, test = prepare(cfg, train_out=args.train, test_out=args.test)
    print(f"prepared {cfg.dataset}: {len(train.labels)} train / {len(test.labels)} test images")


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    parser.add_argument("--train", required=True)
    parser.add_argument("--test", required=True)
    run_stage(main, parser)
