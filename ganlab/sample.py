"""Draw from the best generator:

    python -m ganlab.sample --model sagan --n 64 --out grid.png [--class-id 3] [--seed 0]
    python -m ganlab.sample --model sagan --interpolate Sneaker "Ankle boot" --steps 8 --out interp.png [--rows 4]

`--interpolate A B` mixes the class embeddings of A and B (ids or names): each row keeps one z,
each column is one α from 1 (class A) to 0 (class B).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ganlab.errors import GanlabError
from ganlab.training.checkpoints import load_generator
from ganlab.viz.interpolation import interpolate_classes, resolve_class
from ganlab.viz.render import interpolation_figure, sample_grid, save_figure, save_png


def _best_generator(model: str, best_dir: str | Path):
    path = Path(best_dir) / f"{model}.pt"
    if not path.is_file():
        available = sorted(p.stem for p in Path(best_dir).glob("*.pt"))
        raise GanlabError(f"{path}: no best {model} generator (have: {available or 'none'}); run `dvc repro` first")
    return load_generator(path)


def sample(*, model: str, n: int, out: str | Path, class_id: int | None, seed: int, best_dir: str | Path) -> Path:
    generator, meta = _best_generator(model, best_dir)
    if class_id is not None:
        classes = meta.get("classes", [])
        if not generator.num_classes:
            raise GanlabError(f"--class-id {class_id}: {model} is unconditional and cannot draw a given class")
        if not 0 <= class_id < generator.num_classes:
            names = ", ".join(f"{i}={c}" for i, c in enumerate(classes))
            raise GanlabError(f"--class-id {class_id}: expected 0..{generator.num_classes - 1} ({names})")
    if n < 1:
        raise GanlabError(f"--n {n}: expected at least 1 image")
    save_png(sample_grid(generator, n=n, seed=seed, class_id=class_id), out)
    return Path(out)


def interpolate(
    *, model: str, a: str, b: str, steps: int, rows: int, out: str | Path, seed: int, best_dir: str | Path
) -> Path:
    generator, meta = _best_generator(model, best_dir)
    if not generator.num_classes:
        raise GanlabError(f"--interpolate: {model} is unconditional; it has no class embedding to interpolate")
    classes = list(meta["classes"])
    ia, ib = resolve_class(a, classes, what="--interpolate A"), resolve_class(b, classes, what="--interpolate B")
    images = interpolate_classes(generator, a=ia, b=ib, steps=steps, rows=rows, seed=seed)
    save_figure(interpolation_figure(images, steps=steps, names=(classes[ia], classes[ib])), out)
    return Path(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="dcgan or sagan")
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--out", required=True)
    parser.add_argument("--class-id", type=int, default=None)
    parser.add_argument("--interpolate", nargs=2, metavar=("A", "B"), help="two classes, by id or name")
    parser.add_argument("--steps", type=int, default=8, help="columns of an interpolation, ends included")
    parser.add_argument("--rows", type=int, default=4, help="rows of an interpolation, one z each")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--run", type=int, default=0, help="which training run of `seeds` (default: 0)")
    parser.add_argument("--best-dir", help="where `dvc repro` put the best generators (default: models/seeds/RUN/best)")
    args = parser.parse_args(argv)
    best_dir = args.best_dir or f"models/seeds/{args.run}/best"
    common = dict(model=args.model, out=args.out, seed=args.seed, best_dir=best_dir)
    try:
        if args.interpolate:
            out = interpolate(a=args.interpolate[0], b=args.interpolate[1], steps=args.steps, rows=args.rows, **common)
        else:
            out = sample(n=args.n, class_id=args.class_id, **common)
    except GanlabError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
