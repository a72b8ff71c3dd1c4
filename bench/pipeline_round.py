"""`dvc repro` shortened, timed stage by stage, and extrapolated to the default run.

    python bench/pipeline_round.py [--scale 0.04] [--images 12000] [--device auto] [--keep DIR] [--stages ...]

A temporary git + DVC repo holds this checkout's files and params.yaml with the training
lengths, checkpoint counts and FID sample sizes multiplied by `--scale`. Data: `--images`
random 32-px PNGs in 10 class folders (a user's folder source, so nothing is downloaded; the
speed does not depend on what the pixels show), also the CycleGAN's two domains. Every stage
runs with `dvc repro --single-item` in pipeline order and is timed. The extrapolation scales
each stage by what it repeats: train by iterations; fid by checkpoints × generated images;
report by its n; the rest as measured. Start-up (imports, loading) is scaled too, so short
runs overstate the extrapolated totals.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
# The default params train one seed (`seeds: [0]`), so every per-run stage carries "-0" or "@0".
STAGES = ["prepare", "train@dcgan-0", "train@sagan-0", "fid_reference", "fid@dcgan-0", "fid@sagan-0", "select@0",
          "report@0", "render@0", "summarize", "prepare_cyclegan", "train_cyclegan@0", "reference_cyclegan",
          "fid_cyclegan@0", "select_cyclegan@0", "report_cyclegan@0", "render_cyclegan@0",
          "summarize_cyclegan"]  # fmt: skip
MODELS = ("dcgan", "sagan", "cyclegan")


def write_images(root: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    for i in range(n):
        folder = root / f"class_{i % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / f"{i:06d}.png")


def shortened(params: dict, *, scale: float, source: Path, device: str) -> dict:
    p = yaml.safe_load(yaml.safe_dump(params))
    p["device"] = device
    p["data"].update(dataset="folder", source=str(source))
    p["cyclegan"].update(source=str(source), domain_a="folder:class_0", domain_b="folder:class_1", resolution=32)
    for name in MODELS:
        m = p[name]
        m["iterations"] = max(2, round(m["iterations"] * scale))
        m["ckpt_every"] = max(1, round(m["ckpt_every"] * scale))
        m["log_every"] = min(m["log_every"], m["ckpt_every"])
        m["ema_start"] = min(m.get("ema_start", 0), m["iterations"] - 1)
        if m.get("lr_decay") == "linear":
            m["lr_decay_start"] = min(round(m["lr_decay_start"] * scale), m["iterations"] - 1)
    for section in ("fid", "report"):
        p[section]["n_samples"] = max(64, round(p[section]["n_samples"] * scale))  # report: ≥ 2 per class
    p["fid"]["batch_size"] = min(p["fid"]["batch_size"], p["fid"]["n_samples"])
    return p


def factor(stage: str, full: dict, short: dict) -> float:
    """How many times the default run repeats this stage's work, against the shortened run."""
    family, _, run = stage.partition("@")  # train@dcgan-0, train_cyclegan@0, select@0, summarize
    name = "cyclegan" if family.endswith("_cyclegan") else run.rsplit("-", 1)[0]
    if family.startswith("train"):
        return full[name]["iterations"] / short[name]["iterations"]
    if family in ("fid", "fid_cyclegan"):
        full_ckpts = full[name]["iterations"] / full[name]["ckpt_every"]
        short_ckpts = short[name]["iterations"] / short[name]["ckpt_every"]
        per_ckpt = full["fid"]["n_samples"] / short["fid"]["n_samples"] if family == "fid" else 1.0
        return full_ckpts / short_ckpts * per_ckpt
    if family == "report":
        return full["report"]["n_samples"] / short["report"]["n_samples"]
    return 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=0.04)
    parser.add_argument("--images", type=int, default=12000)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--keep", default=None, help="run in this folder and keep it")
    parser.add_argument("--stages", nargs="+", default=STAGES, choices=STAGES, help="a subset, in pipeline order")
    args = parser.parse_args()
    env = dict(os.environ, DVC_NO_ANALYTICS="1", PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    for key in ("AUTHOR", "COMMITTER"):
        env.setdefault(f"GIT_{key}_NAME", "ganlab bench")
        env.setdefault(f"GIT_{key}_EMAIL", "bench@ganlab.invalid")
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(args.keep or tmp) / "repo"
        files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
        for name in files:
            if (REPO / name).is_file():
                (repo / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / name, repo / name)
        write_images(repo.parent / "images", args.images)
        full = yaml.safe_load((REPO / "params.yaml").read_text())
        short = shortened(full, scale=args.scale, source=repo.parent / "images", device=args.device)
        (repo / "params.yaml").write_text(yaml.safe_dump(short, sort_keys=False))
        for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "round"]):
            subprocess.run(cmd, cwd=repo, env=env, check=True, capture_output=True)
        print(f"shortened dvc repro: scale {args.scale}, {args.images} random 32-px images, device {args.device}")
        print(f"{'stage':<20} {'seconds':>9} {'x default':>10} {'default (extrapolated)':>23}")
        total_short = total_full = 0.0
        for stage in [s for s in STAGES if s in args.stages]:
            start = time.perf_counter()
            result = subprocess.run(["dvc", "repro", "--single-item", stage], cwd=repo, env=env, capture_output=True,
                                    text=True)  # fmt: skip
            seconds = time.perf_counter() - start
            if result.returncode:
                sys.exit(f"{stage} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
            scale = factor(stage, full, short)
            total_short, total_full = total_short + seconds, total_full + seconds * scale
            print(f"{stage:<20} {seconds:>9.1f} {scale:>10.1f} {seconds * scale / 60:>19.1f} min")
        print(f"{'total':<20} {total_short:>9.1f} {'':>10} {total_full / 60:>19.1f} min")


if __name__ == "__main__":
    main()
