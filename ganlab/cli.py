"""What every stage script shares: params loading and turning user errors into one line."""

from __future__ import annotations

import argparse
import sys
from typing import Callable

from ganlab.errors import GanlabError


def stage_parser(description: str | None) -> argparse.ArgumentParser:
    """An argument parser with the `--params` option every stage takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--params", default="params.yaml", help="the params file (default: params.yaml)")
    return parser


def add_seed(parser: argparse.ArgumentParser) -> None:
    """`--seed S`: which entry of `seeds` this run is (dvc.yaml passes each one to its own stage)."""
    parser.add_argument("--seed", type=int, help="the run's entry of `seeds` (needed when it lists several)")


def run_stage(main: Callable[[argparse.Namespace], None], parser: argparse.ArgumentParser) -> None:
    """Parse the paths dvc.yaml passes, run `main`, and exit 2 with a clean message on bad input."""
    args = parser.parse_args()
    try:
        main(args)
    except GanlabError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
