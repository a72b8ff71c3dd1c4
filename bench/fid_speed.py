"""FID speed: our in-memory pipeline vs pytorch-fid's CLI path on PNG folders, same N images.

    python bench/fid_speed.py [--n 500] [--batch-size 50] [--device auto] [--data data/prepared/test] [--ours-only]

Ours: uint8 tensors in memory, pytorch-fid's network with BatchNorm folded into the convs
(ganlab.metrics.fid.InceptionFeatures), timed in every layout and chunk size it can choose on a
CPU (NHWC and NCHW, chunks of 8 and 32), the one chosen for this machine marked. pytorch-fid's
CLI path: its unmodified network, NCHW, reading the same images as PNG files
(`compute_statistics_of_path`). Prints images/s of both, their ratio, the time of both Fréchet
distances (and of ours from the features), and both FID values with their difference.
Uses the --data split when it exists (real images), else noise.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image
from pytorch_fid import fid_score

from ganlab.data.prepared import load_split
from ganlab.metrics.fid import DIMS, FrechetReference, InceptionFeatures, load_inception, statistics
from ganlab.metrics.inception_pass import CPU_CANDIDATES
from ganlab.sampling import resolve_device


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--data", default="data/prepared/test")
    parser.add_argument("--ours-only", action="store_true", help="only ganlab's feature pass (img/s)")
    args = parser.parse_args()
    device = resolve_device(args.device)
    torch.manual_seed(0)

    test = Path(args.data)
    if test.exists():
        real = load_split(test).images[: args.n]
    else:
        real = torch.randint(0, 256, (args.n, 3, 32, 32), dtype=torch.uint8)
    # The "generated" side: the same images with noise, a stand-in for a decent generator.
    fake = (real.int() + torch.randint(-30, 31, real.shape)).clamp(0, 255).to(torch.uint8)
    print(f"device {device}, torch threads {torch.get_num_threads()}, N={len(real)} per side, batch {args.batch_size}")

    # Every pass ganlab can choose on this device, each timed on the same images; the one it
    # chooses (measured once per machine, ganlab.metrics.inception_pass) scores below.
    inception = InceptionFeatures(device=device)
    chosen = inception.feature_pass
    passes = [chosen] if device.type == "cuda" else [chosen, *(p for p in CPU_CANDIDATES if p != chosen)]
    n_total = 2 * len(real)
    speeds = {}
    for feature_pass in passes:
        candidate = InceptionFeatures(device=device, feature_pass=feature_pass)
        candidate.of_images(real[: args.batch_size], batch_size=args.batch_size)  # warm-up
        features, seconds = timed(lambda: [candidate.of_images(x, batch_size=args.batch_size) for x in (real, fake)])
        speeds[feature_pass] = n_total / seconds
        if feature_pass == chosen:
            (feat_real, feat_fake), t_ours = features, seconds
    for feature_pass, speed in speeds.items():
        mark = "  (chosen for this machine)" if feature_pass == chosen else ""
        print(f"features  ours {feature_pass.layout.upper()}, chunks of {feature_pass.chunk or 'a batch'}: "
              f"{speed:8.1f} img/s{mark}")  # fmt: skip
    if args.ours_only:
        return

    with tempfile.TemporaryDirectory() as tmp:
        dirs = []
        for name, images in (("real", real), ("fake", fake)):
            folder = Path(tmp) / name
            folder.mkdir()
            for i, im in enumerate(images):
                Image.fromarray(im.permute(1, 2, 0).numpy()).save(folder / f"{i:05d}.png")
            dirs.append(str(folder))
        model = load_inception(device)  # pytorch-fid's network as its CLI builds it
        with torch.no_grad():
            model(torch.rand(args.batch_size, 3, 32, 32, device=device))  # warm-up, as for ours
        (cli_real, cli_fake), t_cli = timed(
            lambda: [
                fid_score.compute_statistics_of_path(d, model, args.batch_size, DIMS, device, num_workers=0)
                for d in dirs
            ]
        )

    print(f"features  ours {n_total / t_ours:8.1f} img/s   pytorch-fid CLI path {n_total / t_cli:8.1f} img/s"
          f"   ratio {t_cli / t_ours:5.2f}x")  # fmt: skip

    mu_r, sigma_r = statistics(feat_real)
    mu_f, sigma_f = statistics(feat_fake)
    (frechet, ours_fid), t_ours_fd = timed(
        lambda: (lambda f: (f, f.distance(mu_f, sigma_f)))(FrechetReference(mu_r, sigma_r))
    )
    _, t_ours_fd_again = timed(frechet.distance, mu_f, sigma_f)
    # With N <= 2048 features a side, ganlab scores from the features themselves (N×N spectrum).
    (few, few_fid), t_few = timed(
        lambda: (lambda f: (f, f.distance_to(feat_fake)))(FrechetReference.of_features(feat_real))
    )
    _, t_few_again = timed(few.distance_to, feat_fake)
    cli_fid, t_cli_fd = timed(fid_score.calculate_frechet_distance, *cli_fake, *cli_real)
    print(f"frechet   ours {t_ours_fd:6.2f} s first, {t_ours_fd_again:6.2f} s per further checkpoint"
          f"   pytorch-fid {t_cli_fd:6.2f} s   ratio {t_cli_fd / t_ours_fd_again:5.1f}x")  # fmt: skip
    print(f"          from the features ({len(real)} a side) {t_few:6.3f} s first, {t_few_again:6.3f} s per further"
          f" checkpoint, FID {few_fid:.6f}")  # fmt: skip
    print(f"FID       ours {ours_fid:.6f}   pytorch-fid CLI path {cli_fid:.6f}"
          f"   rel. diff {abs(ours_fid - cli_fid) / abs(cli_fid):.2e}")  # fmt: skip
    same_stats = fid_score.calculate_frechet_distance(mu_f, sigma_f, mu_r, sigma_r)
    print(f"          on identical statistics: ours {ours_fid:.9f} sqrtm {same_stats:.9f}"
          f"   rel. diff {abs(ours_fid - same_stats) / abs(same_stats):.2e}")  # fmt: skip


if __name__ == "__main__":
    main()
