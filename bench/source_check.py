"""What it costs DVC to notice that an image folder did or did not change, as `prepare`'s
dependency (`${data.source}` in dvc.yaml), on a folder of many files.

    python bench/source_check.py [--n 50000] [--size 32]

Writes `n` small PNGs (about 2 kB each at 32 px) into class folders, makes a throwaway git + DVC
repo whose one stage depends on the folder, and times `dvc status`: after the stage first ran
(DVC hashed every file then, and keeps each file's hash keyed by its inode, size and mtime), with
nothing changed, after one image is rewritten, and with a cold state cache (the hashes dropped,
as on a fresh clone or another machine). It prints one row per case.
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
from PIL import Image


def dvc(repo: Path, *args: str) -> float:
    start = time.perf_counter()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(["dvc", *args], cwd=repo, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=50000)
    parser.add_argument("--size", type=int, default=32)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="ganlab-source-check-"))
    try:
        photos, repo = root / "photos", root / "repo"
        rng = np.random.default_rng(0)
        start = time.perf_counter()
        for i in range(args.n):
            folder = photos / f"class{i % 10}"
            folder.mkdir(parents=True, exist_ok=True)
            pixels = rng.integers(0, 256, size=(args.size, args.size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{i:06d}.png")
        size = sum(p.stat().st_size for p in photos.rglob("*.png"))
        print(f"{args.n} PNGs at {args.size} px, {size / 1e6:.0f} MB, written in {time.perf_counter() - start:.0f} s")
        repo.mkdir()
        subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
        dvc(repo, "init", "-q")
        (repo / "dvc.yaml").write_text(
            f"stages:\n  prepare:\n    cmd: echo prepared > out.txt\n    deps: [{photos}]\n    outs: [out.txt]\n"
        )
        rows = [("dvc repro (hashes every file)", dvc(repo, "repro"))]
        rows.append(("dvc status, nothing changed", dvc(repo, "status")))
        Image.fromarray(np.zeros((args.size, args.size, 3), np.uint8)).save(photos / "class0" / "000000.png")
        rows.append(("dvc status, one image rewritten", dvc(repo, "status")))
        dvc(repo, "repro")
        from dvc.repo import Repo

        with Repo(str(repo)) as r:  # DVC keeps its file-hash state outside the repo
            site_cache = Path(r.site_cache_dir)
        shutil.rmtree(site_cache, ignore_errors=True)
        rows.append(("dvc status, cold state cache (fresh clone)", dvc(repo, "status")))
        shutil.rmtree(site_cache, ignore_errors=True)
        print("| case | seconds |\n| --- | --- |")
        for name, seconds in rows:
            print(f"| {name} | {seconds:.1f} |")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
