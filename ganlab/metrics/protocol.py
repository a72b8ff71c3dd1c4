"""What a score was measured under, written beside every number so it can be traced and compared.

FIDs are only comparable under the same protocol: how many images were generated, against which
reference split of what size, with which feature network (and the exact weights), and from which
latent seed and code. StudioGAN's SAGAN, for instance, scores 14.0 at 10k generated vs the 10k
test images and 10.2 at 50k vs the 50k training images of CIFAR-10.
"""

from __future__ import annotations

import functools
import hashlib
import sys
from importlib.metadata import version
from pathlib import Path

import ganlab
from ganlab.io import file_digest
from ganlab.metrics.fid import DIMS, weights_path

# Below this many reference images the 2048-d covariance is rank-deficient: FID is biased and
# unstable, and KID (unbiased at any n) is the number to lead with.
FULL_RANK = 2048


def count_words(n: int) -> str:
    """10000 -> '10k', 2048 -> '2048'."""
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


def describe(
    *,
    n_samples: int,
    reference_size: int,
    reference_split: str,
    reference_pool: int = 0,
    what: str = "generated",
    metric: str = "FID",
) -> str:
    """The protocol in words, e.g. 'FID, 10k generated vs the 10k test images, pytorch-fid Inception',
    or '... vs 2k of the 10k test images (seeded subset) ...' where `fid.reference_size` cut the split."""
    if reference_pool > reference_size:
        of = f"{count_words(reference_pool)} {reference_split} images"
        against = f"{count_words(reference_size)} of the {of} (seeded subset)"
    else:
        against = f"the {count_words(reference_size)} {reference_split} images"
    return f"{metric}, {count_words(n_samples)} {what} vs {against}, pytorch-fid Inception"


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


def code_version() -> dict:
    """ganlab's version and a sha256 of the code this process ran: every ganlab module it loaded
    and its entry script (the stage), by path relative to the project and content.

    Not git HEAD: HEAD is no declared dependency, so recording it would change an output on any
    commit, marking every later stage stale, and under `dvc exp run` it names the baseline, not
    the experiment. The digest changes exactly when code the stage ran changes, which is what
    the stage's `deps` in dvc.yaml (and their md5s in dvc.lock) track.
    """
    root = Path(ganlab.__file__).resolve().parent.parent
    modules = [m for name, m in list(sys.modules.items()) if name == "ganlab" or name.startswith("ganlab.")]
    files = {Path(m.__file__).resolve() for m in modules if getattr(m, "__file__", None)}
    entry = getattr(sys.modules.get("__main__"), "__file__", None)
    if entry:
        files.add(Path(entry).resolve())
    digest = hashlib.sha256()
    for path in sorted(files):
        name = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
        digest.update(name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return {"ganlab_version": ganlab.__version__, "code_sha256": digest.hexdigest(), "code_files": len(files)}


def protocol(*, n_samples: int, reference_size: int, reference_split: str, reference_pool: int, seed: int) -> dict:
    """The protocol block of best.json and report.json."""
    return {
        "description": describe(
            n_samples=n_samples,
            reference_size=reference_size,
            reference_split=reference_split,
            reference_pool=reference_pool,
        ),
        "n_samples": n_samples,
        "reference_split": reference_split,
        "reference_size": reference_size,
        # how many images the split holds: above reference_size, the reference is a seeded subset
        "reference_pool": reference_pool,
        # KID leads where the reference is too small for a full-rank FID covariance.
        "headline": "kid" if reference_size < FULL_RANK else "fid",
        "feature_network": feature_network(),
        "latent_seed": seed,
        **code_version(),
    }
