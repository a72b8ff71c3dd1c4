"""DVC stage `render`: best generators and metric tables -> PNG grids and curves in plots/."""

import argparse
from pathlib import Path

from ganlab.cli import run_stage, stage_parser
from ganlab.config import load_params
from ganlab.metrics.fid import FrechetReference, load_statistics
from ganlab.metrics.reference import floor_fid, load_features
from ganlab.metrics.select import read_fid_csv
from ganlab.render import class_grid_figure, fid_figure, loss_figure, sample_grid, save_figure, save_png
from ganlab.training.checkpoints import load_generator


def main(args: argparse.Namespace) -> None:
    seed = load_params(args.params).seed
    out = Path(args.out)
    for model, best_ckpt in args.best:
        generator, meta = load_generator(best_ckpt)
        save_png(sample_grid(generator, n=64, seed=seed), out / f"{model}_samples.png")
        if generator.num_classes:
            save_figure(class_grid_figure(generator, meta["classes"], seed=seed), out / f"{model}_classes.png")
    for model, log_csv in args.log:
        save_figure(loss_figure(model, Path(log_csv)), out / f"{model}_loss.png")
    fid_csvs = {model: Path(p) for model, p in args.fid}
    stats = load_statistics(args.reference)
    n_curve = max(r["n_samples"] for p in fid_csvs.values() for r in read_fid_csv(p))
    floor, _ = floor_fid(load_features(args.train_features)[0], FrechetReference(stats["mu"], stats["sigma"]), n=n_curve)
    save_figure(fid_figure(fid_csvs, reference_size=int(stats["size"]), floor=floor), out / "fid.png")
    print(f"wrote {sorted(p.name for p in out.glob('*.png'))}")


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    parser.add_argument("--best", nargs=2, action="append", required=True, metavar=("MODEL", "CHECKPOINT"))
    parser.add_argument("--fid", nargs=2, action="append", required=True, metavar=("MODEL", "FID_CSV"))
    parser.add_argument("--log", nargs=2, action="append", required=True, metavar=("MODEL", "TRAIN_LOG"))
    parser.add_argument("--reference", required=True, help="test-set statistics, for the floor and the protocol")
    parser.add_argument("--train-features", required=True, help="training-image features, for the floor")
    parser.add_argument("--out", required=True)
    run_stage(main, parser)
