"""Translate images with the best translator checkpoint:

    python -m ganlab.translate --model cyclegan --direction a2b --input my_emojis/ --out translated/
    python -m ganlab.translate --model cyclegan --direction b2a --input face.png --out translated/ [--resize]

Every image in `--input` (a folder, not recursive, or one file) is written to `--out` as a PNG of
the same name. Images must be square at the model's resolution; `--resize` centre-crops and
resizes them as `prepare` does. Transparency is composited on white, as in training.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ganlab.data.base import IMAGE_EXTENSIONS, resize_square
from ganlab.errors import GanlabError
from ganlab.io import atomic_path
from ganlab.models import MODELS, TRANSLATORS
from ganlab.sampling import resolve_device, translate
from ganlab.training.checkpoints import load_translators

DIRECTIONS = {"a2b": "g_ab", "b2a": "g_ba"}


def input_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise GanlabError(f"--input {path}: no such file or folder")
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise GanlabError(f"--input {path}: no images in the folder (expected {', '.join(IMAGE_EXTENSIONS)} files)")
    return files


def load_image(path: Path, resolution: int, *, resize: bool) -> np.ndarray:
    try:
        with Image.open(path) as image:
            image.load()
            if not resize and image.size != (resolution, resolution):
                raise GanlabError(
                    f"{path}: {image.width}×{image.height} pixels, but the model translates "
                    f"{resolution}×{resolution} images; pass --resize to centre-crop and resize it"
                )
            return resize_square(image, resolution)
    except (OSError, SyntaxError, ValueError) as e:
        raise GanlabError(f"{path}: not a readable image ({type(e).__name__}: {e})") from None


def translate_files(
    *,
    model: str,
    direction: str,
    input: str | Path,
    out: str | Path,
    checkpoint: str | Path | None = None,
    run: int = 0,
    resize: bool = False,
    device: str = "cpu",
    batch_size: int = 64,
) -> list[Path]:
    if model not in TRANSLATORS:
        what = "generates images from noise" if model in MODELS else "is not a ganlab model"
        raise GanlabError(f"--model {model}: {what}; translators: {', '.join(sorted(TRANSLATORS))}")
    if direction not in DIRECTIONS:
        raise GanlabError(f"--direction {direction}: expected one of {', '.join(DIRECTIONS)}")
    checkpoint = Path(checkpoint or f"models/{model}/best/{run}.pt")
    if not checkpoint.is_file():
        raise GanlabError(
            f"{checkpoint}: no such checkpoint; run `dvc repro select_{model}@{run}` first, or pass --checkpoint"
        )
    files = input_files(Path(input))
    dev = resolve_device(device)
    translators, meta = load_translators(checkpoint, dev)
    resolution = int(meta["image_shape"][-1])
    images = torch.from_numpy(np.stack([load_image(f, resolution, resize=resize) for f in files]))
    translated = translate(translators[DIRECTIONS[direction]], images, batch_size=batch_size, device=dev)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for f, image in zip(files, translated):
        target = out / f"{f.stem}.png"
        with atomic_path(target) as tmp:
            Image.fromarray(image.permute(1, 2, 0).numpy()).save(tmp, format="PNG")
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a translator: " + ", ".join(sorted(TRANSLATORS)))
    parser.add_argument("--direction", required=True, choices=sorted(DIRECTIONS))
    parser.add_argument("--input", required=True, help="an image, or a folder of images")
    parser.add_argument("--out", required=True, help="the folder to write the translations to")
    parser.add_argument("--run", type=int, default=0, help="which training run of `seeds` (default: 0)")
    parser.add_argument("--checkpoint", help="default: models/<model>/best/RUN.pt, what `dvc repro` selected")
    parser.add_argument("--resize", action="store_true", help="centre-crop and resize inputs to the model's size")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    args = parser.parse_args(argv)
    try:
        written = translate_files(
            model=args.model,
            direction=args.direction,
            input=args.input,
            out=args.out,
            checkpoint=args.checkpoint,
            run=args.run,
            resize=args.resize,
            device=args.device,
        )
    except GanlabError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    print(f"wrote {len(written)} image(s) to {args.out}")


if __name__ == "__main__":
    main()
