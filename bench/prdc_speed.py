"""Precision, recall, density and coverage of one checkpoint's features: ganlab's one-pass blocked
computation against torch-fidelity's precision/recall plus clovaai prdc's density/coverage (what
the pipeline would otherwise call), on the same features, each in its own process.

    python bench/prdc_speed.py [--n 10000] [--dims 2048] [--k 5]

Random features on a 32-d manifold in 2048-d (N generated, narrower and shifted; N real), float32
as the pipeline stores them. Prints per method the
seconds, the peak resident memory of its process, and the four values; ours is timed twice: with
the real k-NN radii computed, and with them given (as the fid stage does for every checkpoint
after the first).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np


def features(n: int, dims: int, rank: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Features on a low-dimensional manifold, as Inception features of one dataset are (isotropic
    2048-d noise would put every point at nearly the same distance from every other)."""
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(rank, dims)) / np.sqrt(rank)
    real = rng.normal(size=(n, rank)) @ basis + 0.05 * rng.normal(size=(n, dims))
    fake = (rng.normal(size=(n, rank)) * 0.8 + 0.2) @ basis + 0.05 * rng.normal(size=(n, dims))
    return fake.astype(np.float32), real.astype(np.float32)


def run_one(method: str, n: int, dims: int, k: int) -> dict:
    import torch

    fake, real = features(n, dims)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    if method == "ganlab":
        from ganlab.metrics.prdc import knn_radii, prdc

        out = prdc(fake, real, k=k)
        seconds = time.perf_counter() - start
        radii = knn_radii(real, k)
        start = time.perf_counter()
        prdc(fake, real, k=k, real_radii=radii)
        out["seconds_radii_given"] = time.perf_counter() - start
    else:
        from prdc import compute_prdc
        from torch_fidelity.metric_prc import prc_features_to_metric

        pr = prc_features_to_metric(torch.from_numpy(fake), torch.from_numpy(real), prc_neighborhood=k,
                                    prc_batch_size=10000, save_cpu_ram=True, verbose=False)  # fmt: skip
        dc = compute_prdc(real_features=real, fake_features=fake, nearest_k=k)
        out = {
            "precision": pr["precision"],
            "recall": pr["recall"],
            "density": dc["density"],
            "coverage": dc["coverage"],
        }
        seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {**out, "seconds": seconds, "peak_mb": peak / 1024, "added_mb": (peak - base) / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--dims", type=int, default=2048)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--only", choices=("ganlab", "libraries"))
    args = parser.parse_args()
    if args.only:
        print(json.dumps(run_one(args.only, args.n, args.dims, args.k)))
        return
    print(f"{args.n} generated vs {args.n} real features, {args.dims}-d, k = {args.k}")
    print("| method | seconds | peak memory (process) | precision | recall | density | coverage |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for method in ("ganlab", "libraries"):
        cmd = [
            sys.executable,
            __file__,
            "--only",
            method,
            "--n",
            str(args.n),
            "--dims",
            str(args.dims),
            "--k",
            str(args.k),
        ]
        r = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines()[-1])
        name = "ganlab (float64, blocks of 1024 rows)" if method == "ganlab" else "torch-fidelity P/R + prdc D/C"
        seconds = f"{r['seconds']:.1f}" + (
            f" ({r['seconds_radii_given']:.1f} with real radii given)" if method == "ganlab" else ""
        )
        print(f"| {name} | {seconds} | {r['peak_mb']:.0f} MB | {r['precision']:.4f} | {r['recall']:.4f} "
              f"| {r['density']:.4f} | {r['coverage']:.4f} |")  # fmt: skip


if __name__ == "__main__":
    main()
