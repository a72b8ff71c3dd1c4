"""DVC stage `render`: best generators and metric tables -> PNG grids and curves in plots/."""

import argparse
from pathlib import Path

from ganlab.cli import run_stage, stage_parser
from ganlab.config import load_params
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
    save_figure(fid_figure({model: Path(p) for model, p in args.fid}), out / "fid.png")
    print(f"wrote {sorted(p.name for p in out.glob('*.png'))}")


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    parser.add_argument("--best", nargs=2, action="append", required=True, metavar=("MODEL", "CHECKPOINT"))
    parser.add_argument("--fid", nargs=2, action="append", required=True, metavar=("MODEL", "FID_CSV"))
    parser.add_argument("--log", nargs=2, action="append", required=True, metavar=("MODEL", "TRAIN_LOG"))
    parser.add_argument("--out", required=True)
    run_stage(main, parser)
