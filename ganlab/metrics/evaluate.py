"""FID, KID, precision, recall, density and coverage of every training checkpoint against the
reference, from one Inception pass each, with a result cache."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ganlab.config import FIDConfig
from ganlab.distributed import from_main, join
from ganlab.io import atomic_write_text, file_digest
from ganlab.metrics.fid import (
    DIMS,
    FidError,
    FrechetReference,
    InceptionFeatures,
    linalg_device,
    load_statistics,
)
from ganlab.metrics.kid import kid
from ganlab.metrics.prdc import PRDC_K, knn_radii, prdc
from ganlab.metrics.reference import load_features
from ganlab.sampling import generate_batches, resolve_device
from ganlab.training.checkpoints import list_snapshots, load_generator

FID_COLUMNS = (
    "iteration", "fid", "kid", "kid_std", "precision", "recall", "density", "coverage", "n_samples", "seconds"
)  # fmt: skip


def cache_key(checkpoint: Path, cfg: FIDConfig, seed: int, reference_sha: str) -> str:
    settings = json.dumps({**asdict(cfg), "seed": seed, "prdc_k": PRDC_K}, sort_keys=True)
    return "|".join([file_digest(checkpoint, "sha256"), hashlib.sha256(settings.encode()).hexdigest(), reference_sha])


def reference_digest(*paths: Path) -> str:
    return hashlib.sha256("|".join(file_digest(p, "sha256") for p in paths).encode()).hexdigest()


def load_cache(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        print(f"warning: {path} is not valid JSON; re-evaluating every checkpoint", file=sys.stderr)
        return {}


def write_csv(rows: list[dict], path: Path, columns: tuple[str, ...] = FID_COLUMNS) -> None:
    """One row per checkpoint, sorted by iteration, written atomically."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(sorted(rows, key=lambda r: r["iteration"]))
    atomic_write_text(buf.getvalue(), path)


def evaluate_checkpoints(
    *,
    checkpoints_dir: str | Path,
    reference_path: str | Path,
    reference_features_path: str | Path,
    cfg: FIDConfig,
    seed: int,
    device: str,
    csv_out: str | Path,
    cache_path: str | Path,
    progress: bool = True,
) -> list[dict] | None:
    """FID and KID of every `iter_*.pt` in `checkpoints_dir` against the reference statistics and
    features; rows sorted by iteration, written to `csv_out`.

    Results are cached by (checkpoint hash, fid params + seed, reference hashes): a re-run after
    new checkpoints appear evaluates only those. The cache is saved after each checkpoint, so
    an interrupted run keeps what it computed.

    Under torchrun, every rank generates and embeds its share of each checkpoint's batches and
    rank 0 gathers the features, scores them and alone writes the cache and CSV; it returns the
    rows there and None on the other ranks.
    """
    world, dev = join(resolve_device(device))
    checkpoints = list_snapshots(checkpoints_dir)
    if not checkpoints:
        raise FidError(f"{checkpoints_dir}: no iter_*.pt checkpoints to evaluate; run the train stage first")
    ref = load_statistics(reference_path)
    if ref["mu"].shape != (DIMS,):
        raise FidError(f"{reference_path}: expected {DIMS}-d pool3 statistics, found mu of shape {ref['mu'].shape}")
    if cfg.n_samples < DIMS:
        print(
            f"warning: fid.n_samples={cfg.n_samples} < {DIMS}: the covariance is rank-deficient and the FID "
            "is biased upwards; compare only numbers with the same n_samples",
            file=sys.stderr,
        )
    cache_path = Path(cache_path)
    cache = from_main(load_cache(cache_path) if world.is_main else None, world)
    reference_sha = reference_digest(Path(reference_path), Path(reference_features_path))
    keys = {ckpt: cache_key(ckpt, cfg, seed, reference_sha) for ckpt in checkpoints}
    # an entry from before a column existed is evaluated again
    todo = [ckpt for ckpt in checkpoints if not set(FID_COLUMNS) <= set(cache.get(keys[ckpt], {}))]
    if world.is_main:
        print(f"FID: {len(checkpoints) - len(todo)} checkpoints cached, {len(todo)} to evaluate")

    if todo:
        inception = InceptionFeatures(device=dev)
        frechet = FrechetReference(ref["mu"], ref["sigma"], device=linalg_device(dev))
        ref_features, _ = load_features(reference_features_path)
        # the real k-NN radii once for every checkpoint
        ref_radii = knn_radii(ref_features) if world.is_main and len(ref_features) > PRDC_K else None
        bar = tqdm(total=len(todo), unit="ckpt", desc="FID", mininterval=2.0, disable=not (progress and world.is_main))
        for ckpt in todo:
            start = time.perf_counter()
            generator, meta = load_generator(ckpt, dev)
            _check_fits(ckpt, meta, ref)
            batches = generate_batches(
                generator, n=cfg.n_samples, batch_size=cfg.batch_size, seed=seed, device=dev, world=world
            )
            features = inception.of_batches(batches, world=world)
            bar.update()
            if not world.is_main:
                continue
            fid, kid_ = frechet.distance_to(features), kid(features, ref_features)
            if not np.isfinite(fid):
                raise FidError(f"{ckpt}: FID is not finite ({fid}); the generator may have diverged")
            cache[keys[ckpt]] = {
                "checkpoint": ckpt.name,
                "iteration": int(meta["iteration"]),
                "fid": fid,
                "kid": kid_["mean"],
                "kid_std": kid_["std"],
                **prdc(features, ref_features, real_radii=ref_radii),
                "n_samples": cfg.n_samples,
                "seconds": round(time.perf_counter() - start, 3),
            }
            atomic_write_text(json.dumps(cache, indent=1, sort_keys=True), cache_path)
            bar.set_postfix(iteration=meta["iteration"], fid=f"{fid:.2f}", refresh=False)
        bar.close()
    if not world.is_main:
        return None
    rows = [{k: cache[keys[ckpt]][k] for k in FID_COLUMNS} for ckpt in checkpoints]
    write_csv(rows, Path(csv_out))
    return sorted(rows, key=lambda r: r["iteration"])


def _check_fits(ckpt: Path, meta: dict, ref: dict) -> None:
    shape = list(meta.get("image_shape", []))
    if "image_shape" in ref and shape != ref["image_shape"].tolist():
        raise FidError(
            f"{ckpt}: generates images of shape {shape}, the reference set has {ref['image_shape'].tolist()}"
        )
    if "num_classes" in ref and meta["num_classes"] not in (0, int(ref["num_classes"])):
        raise FidError(
            f"{ckpt}: conditioned on {meta['num_classes']} classes, the reference set has {int(ref['num_classes'])}"
        )
