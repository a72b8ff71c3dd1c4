"""The numbers to quote for each model's best checkpoint, re-scored with a fresh latent seed.

`select` picks the minimum of a noisy FID curve, so the curve's value at that minimum is biased
low (the winner's curse). Re-scoring the chosen checkpoint on latents it was not chosen on gives
an unbiased number, here at the full protocol (report.n_samples) even when the curve was cheap.
"""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch

from ganlab.config import ReportConfig
from ganlab.errors import GanlabError
from ganlab.io import atomic_write_text
from ganlab.metrics.fid import FrechetReference, InceptionFeatures, load_statistics, statistics
from ganlab.metrics.protocol import describe, protocol
from ganlab.metrics.reference import floor_fid, load_features
from ganlab.sampling import balanced_labels, generate_batches, resolve_device
from ganlab.training.checkpoints import load_generator

KID_SUBSETS, KID_SUBSET_SIZE, KID_RNG_SEED = 100, 1000, 2020  # torch-fidelity's defaults


def kid(features_1: np.ndarray, features_2: np.ndarray) -> dict:
    """Kernel Inception Distance (Bińkowski et al. 2018): unbiased MMD² with the cubic
    polynomial kernel (x·y/d + 1)³, mean and std over 100 random subsets of 1000 (fewer when
    a set is smaller). Computed by torch-fidelity, a maintained implementation."""
    from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric

    subset_size = min(KID_SUBSET_SIZE, len(features_1), len(features_2))
    out = kid_features_to_metric(
        torch.from_numpy(features_1),
        torch.from_numpy(features_2),
        kid_subsets=KID_SUBSETS,
        kid_subset_size=subset_size,
        kid_kernel="poly",
        kid_kernel_poly_degree=3,
        kid_kernel_poly_gamma=None,
        kid_kernel_poly_coef0=1,
        rng_seed=KID_RNG_SEED,
        verbose=False,
    )
    return {"mean": out[KEY_METRIC_KID_MEAN], "std": out[KEY_METRIC_KID_STD], "subset_size": subset_size}


def per_class_fid(
    gen_features: np.ndarray,
    gen_labels: np.ndarray,
    ref_features: np.ndarray,
    ref_labels: np.ndarray,
    classes: list[str],
) -> dict[str, float]:
    """FID of each class's generated images against that class's reference images."""
    out = {}
    for c, name in enumerate(classes):
        gen, ref = gen_features[gen_labels == c], ref_features[ref_labels == c]
        if len(gen) < 2 or len(ref) < 2:
            raise GanlabError(
                f"per-class FID of class {c} ({name}): needs at least 2 images per side, "
                f"found {len(gen)} generated and {len(ref)} reference (raise report.n_samples)"
            )
        out[name] = FrechetReference(*statistics(ref)).distance(*statistics(gen))
    return out


def score_checkpoint(
    checkpoint: str | Path,
    *,
    inception: InceptionFeatures,
    reference: FrechetReference,
    ref_features: np.ndarray,
    ref_labels: np.ndarray,
    n: int,
    seed: int,
    batch_size: int,
) -> dict:
    """FID, KID and (for conditional generators) per-class FID of one checkpoint."""
    generator, meta = load_generator(checkpoint, inception.device)
    labels = balanced_labels(n, generator.num_classes, device=inception.device)
    batches = generate_batches(generator, n=n, batch_size=batch_size, seed=seed, device=inception.device, labels=labels)
    features = inception.of_batches(batches)
    row = {
        "iteration": int(meta["iteration"]),
        "precision": meta["config"]["params"].get("precision", "fp32"),
        "fid": reference.distance(*statistics(features)),
        "kid": kid(features, ref_features),
    }
    if generator.num_classes:
        per_class = per_class_fid(features, labels.cpu().numpy(), ref_features, ref_labels, list(meta["classes"]))
        row["intra_fid"] = float(np.mean(list(per_class.values())))
        row["per_class_fid"] = per_class
    return row


def write_report(
    *,
    best: dict[str, Path],
    best_json: str | Path,
    reference_stats: str | Path,
    test_features: str | Path,
    train_features: str | Path,
    cfg: ReportConfig,
    curve_seed: int,
    batch_size: int,
    device: str,
    out: str | Path,
) -> dict:
    """Score every model's best checkpoint and write metrics/report.json."""
    if cfg.seed == curve_seed:
        raise GanlabError(
            f"report.seed: expected a latent seed different from seed ({curve_seed}), the one the FID curve "
            f"chose the checkpoint with; found {cfg.seed}"
        )
    curve = json.loads(Path(best_json).read_text())
    stats = load_statistics(reference_stats)
    reference = FrechetReference(stats["mu"], stats["sigma"])
    ref_features, ref_labels = load_features(test_features)
    inception = InceptionFeatures(device=resolve_device(device))
    report = {"protocol": protocol(n_samples=cfg.n_samples, reference_size=len(ref_features), seed=cfg.seed)}
    report["protocol"]["kid"] = (
        f"unbiased MMD², kernel (x·y/d + 1)³, {KID_SUBSETS} subsets, rng seed {KID_RNG_SEED}, "
        f"torch-fidelity {version('torch-fidelity')}"
    )
    report["protocol"]["per_class_fid"] = "each class's generated images vs that class's test images"
    for model, checkpoint in best.items():
        row = score_checkpoint(
            checkpoint,
            inception=inception,
            reference=reference,
            ref_features=ref_features,
            ref_labels=ref_labels,
            n=cfg.n_samples,
            seed=cfg.seed,
            batch_size=batch_size,
        )
        chosen = curve.get(model, {})
        if chosen.get("iteration") != row["iteration"]:
            raise GanlabError(
                f"{checkpoint}: iteration {row['iteration']} is not the one {best_json} chose for {model}"
            )
        # The biased number the checkpoint was chosen by, beside the re-score.
        row["curve_fid"], row["curve_n_samples"] = chosen["fid"], curve["protocol"]["n_samples"]
        row["curve_seed"] = curve["protocol"]["latent_seed"]
        report[model] = row
    floor, n_floor = floor_fid(load_features(train_features)[0], reference, n=cfg.n_samples)
    report["floor"] = {
        "fid": floor,
        "n_samples": n_floor,
        "description": describe(n_samples=n_floor, reference_size=len(ref_features), what="real training images"),
    }
    atomic_write_text(json.dumps(report, indent=2) + "\n", out)
    return report
