"""DVC stage `prepare`: the dataset's files -> data/prepared/{train,test}/ (memory-mapped uint8
arrays at data.resolution) and the list of files skipped under data.on_bad=skip."""

import argparse

from ganlab.cli import run_stage, stage_parser
from ganlab.config import load_params
from ganlab.data.prepare import prepare


def main(args: argparse.Namespace) -> None:
    cfg = load_params(args.params).data
    counts = prepare(cfg, train_out=args.train, test_out=args.test, bad_out=args.bad_files)
    print(f"prepared {cfg.dataset} at {cfg.resolution}×{cfg.resolution}:")
    for name in counts["train"]:
        print(f"  {name:<24} {counts['train'][name]:>7} train {counts['test'].get(name, 0):>7} test")
    print(f"  {'total':<24} {sum(counts['train'].values()):>7} train {sum(counts['test'].values()):>7} test")


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    parser.add_argument("--train", required=True)
    parser.add_argument("--test", required=True)
    parser.add_argument("--bad-files", required=True)
    run_stage(main, parser)
