"""Draw a grid from the best generator:

    python -m ganlab.sample --model sagan --n 64 --out grid.png [--class-id 3] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ganlab.errors import GanlabError
from ganlab.render import sample_grid, save_png
from ganlab.training.checkpoints import load_generator


def sample(*, model: str, n: int, out: str | Path, class_id: int | None, seed: int, best_dir: str | Path) -> Path:
    path = Path(best_dir) / f"{model}.pt"
    if not path.is_file():
        available = sorted(p.stem for p in Path(best_dir).glob("*.pt"))
        raise GanlabError(f"{path}: no best {model} generator (have: {available or 'none'}); run `dvc repro` first")
    generator, meta = load_generator(path)
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="dcgan or sagan")
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--out", required=True)
    parser.add_argument("--class-id", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--best-dir", default="models/best", help="where `dvc repro` put the best generators")
    args = parser.parse_args(argv)
    try:
        out = sample(model=args.model, n=args.n, out=args.out, class_id=args.class_id, seed=args.seed, best_dir=args.best_dir)
    except GanlabError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
