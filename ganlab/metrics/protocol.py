"""What a score was measured under, written beside every number so it can be traced and compared.

FIDs are only comparable under the same protocol: how many images were generated, against which
reference split of what size, with which feature network (and the exact weights), and from which
latent seed and code. StudioGAN's SAGAN, for instance, scores 14.0 at 10k generated vs the 10k
test images and 10.2 at 50k vs the 50k training images of CIFAR-10.
"""

from __future__ import annotations

import functools
import subprocess
from importlib.metadata import version
from pathlib import Path

from ganlab.io import file_digest
from ganlab.metrics.fid import DIMS, weights_path

# Below this many reference images the 2048-d covariance is rank-deficient: FID is biased and
# unstable, and KID (unbiased at any n) is the number to lead with.
FULL_RANK = 2048


def count_words(n: int) -> str:
    """10000 -> '10k', 2048 -> '2048'."""
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


def describe(
    *, n_samples: int, reference_size: int, reference_split: str, what: str = "generated", metric: str = "FID"
) -> str:
    """The protocol in words, e.g. 'FID, 10k generated vs the 10k test images, pytorch-fid Inception'."""
    return (
        f"{metric}, {count_words(n_samples)} {what} vs the {count_words(reference_size)} "
        f"{reference_split} images, pytorch-fid Inception"
    )


@functools.cache
def feature_network() -> dict:
    """pytorch-fid's version and the sha256 of the Inception weights file it loads."""
    path = weights_path()
    return {
        "name": f"pytorch-fid InceptionV3, pool3 ({DIMS}-d), fp32",
        "pytorch_fid": version("pytorch-fid"),
        "weights": path.name,
        "weights_sha256": file_digest(path, "sha256") if path.is_file() else None,
    }


def git_commit(repo: str | Path = ".") -> str | None:
    """The ganlab commit the code ran from, or None outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def protocol(*, n_samples: int, reference_size: int, reference_split: str, seed: int) -> dict:
    """The protocol block of best.json and report.json."""
    return {
        "description": describe(n_samples=n_samples, reference_size=reference_size, reference_split=reference_split),
        "n_samples": n_samples,
        "reference_split": reference_split,
        "reference_size": reference_size,
        # KID leads where the reference is too small for a full-rank FID covariance.
        "headline": "kid" if reference_size < FULL_RANK else "fid",
        "feature_network": feature_network(),
        "latent_seed": seed,
        "ganlab_commit": git_commit(),
    }
