"""DVC stage `report_cyclegan@<seed>`: the chosen checkpoint re-scored on every test image, beside the
identity, floor and mean-of-target baselines -> metrics/cyclegan/seeds/<seed>/report.json."""

import argparse
import json

from ganlab.cli import run_stage, stage_parser
from ganlab.config import load_params
from ganlab.metrics.translation_report import write_translation_report


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    report = write_translation_report(
        best=args.best,
        best_json=args.best_json,
        test={"a": args.a_test, "b": args.b_test},
        train={"a": args.a_train, "b": args.b_train},
        reference={"a": args.a_reference, "b": args.b_reference},
        batch_size=params.fid.batch_size,
        device=params.device,
        out=args.out,
    )
    print(json.dumps(report["cyclegan"], indent=1))


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    names = ("best", "best-json", "a-train", "a-test", "b-train", "b-test", "a-reference", "b-reference", "out")
    for name in names:
        parser.add_argument(f"--{name}", required=True)
    run_stage(main, parser)
