"""DVC stages `train@<model>-<seed>` and `train_cyclegan@<seed>`: prepared training split(s) ->
the run's folder under models/ (+ the DVCLive directory of its training metrics and previews)."""

import argparse

from ganlab.cli import add_seed, run_stage, stage_parser
from ganlab.config import load_params
from ganlab.distributed import relaunch
from ganlab.training.loop import train


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    if relaunch(params.distributed.nproc_per_node, params.distributed.max_restarts):
        return  # this script ran again as that many torchrun workers
    train(
        args.model,
        params.model(args.model),
        seed=params.run_seeds(args.seed).training,
        device=params.device,
        data_paths=args.data,
        out_dir=args.out,
        live_dir=args.live,
    )


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    parser.add_argument("--model", required=True)
    add_seed(parser)
    parser.add_argument("--data", required=True, action="append", help="a prepared split (cyclegan: A, then B)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--live", required=True, help="DVCLive directory")
    run_stage(main, parser)
