"""DVC stage `report@<seed>`: each best checkpoint re-scored on fresh latents -> metrics/seeds/<seed>/report.json
(FID, KID, per-class FID, the curve's FID beside them, the real-data floor, the protocol)."""

import argparse

from ganlab.cli import add_seed, run_stage, stage_parser
from ganlab.config import load_params
from ganlab.distributed import relaunch
from ganlab.metrics.report import write_report


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    if relaunch(params.distributed.nproc_per_node, params.distributed.max_restarts):
        return  # this script ran again as that many torchrun workers
    report = write_report(
        best=dict(args.best),
        best_json=args.best_json,
        reference_stats=args.reference,
        reference_features=args.reference_features,
        floor_features=args.floor_features,
        seeds=params.run_seeds(args.seed),
        n_samples=params.report.n_samples,
        batch_size=params.fid.batch_size,
        device=params.device,
        out=args.out,
    )
    if report is None:
        return  # a torchrun worker other than rank 0
    for model, _ in args.best:
        row = report[model]
        fid = f"FID {row['fid']:.2f} (curve {row['curve_fid']:.2f})"
        kid = f"KID {row['kid']['mean']:.4f} ± {row['kid']['std']:.4f}"
        print(
            f"{model} @ {row['iteration']}: "
            + (f"{kid}, {fid}" if report["protocol"]["headline"] == "kid" else f"{fid}, {kid}")
            + f", spread {row['spread']:.2f}"
        )
    print(f"floor: FID {report['floor']['fid']:.2f} ({report['floor']['description']})")
    print(f"({report['protocol']['description']})")


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    add_seed(parser)
    parser.add_argument("--best", nargs=2, action="append", required=True, metavar=("MODEL", "CHECKPOINT"))
    parser.add_argument("--best-json", required=True)
    parser.add_argument("--reference", required=True)
    parser.add_argument("--reference-features", required=True)
    parser.add_argument("--floor-features", required=True)
    parser.add_argument("--out", required=True)
    run_stage(main, parser)
