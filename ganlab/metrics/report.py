"""The numbers to quote for each model's best checkpoint, re-scored with a fresh latent seed.

`select` picks the minimum of a noisy FID curve, so the curve's value at that minimum is biased
low (the winner's curse). Re-scoring the chosen checkpoint on latents it was not chosen on gives
an unbiased number, here at the full protocol (report.n_samples) even when the curve was cheap.
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch

from ganlab.config import RunSeeds
from ganlab.distributed import SINGLE, World, join
from ganlab.errors import GanlabError
from ganlab.io import atomic_write_text
from ganlab.metrics.fid import (
    FrechetReference,
    InceptionFeatures,
    linalg_device,
    load_statistics,
    reference_info,
)
from ganlab.metrics.kid import KID_RNG_SEED, KID_SUBSETS, kid
from ganlab.metrics.prdc import PRDC_K, knn_radii, prdc
from ganlab.metrics.protocol import describe, protocol
from ganlab.metrics.reference import floor_fid, load_features
from ganlab.sampling import balanced_labels, generate_batches, resolve_device
from ganlab.training.checkpoints import load_generator

MIN_CLASS_IMAGES = 2  # the fewest images a covariance can be estimated from


class ClassReferences:
    """Every class's Fréchet reference, built once from the reference features.

    Scoring many checkpoints against the same classes then costs one eigvalsh per class and
    checkpoint instead of also re-estimating and re-decomposing each class's covariance.

    A class with fewer than MIN_CLASS_IMAGES reference images has no covariance to compare with;
    it is left out with a warning (more generated images cannot help there). Too few generated
    images is an error, since raising report.n_samples fixes it.
    """

    def __init__(
        self, features: np.ndarray, labels: np.ndarray, classes: list[str], *, device: torch.device | None = None
    ) -> None:
        self.classes = list(classes)
        self.sizes = [int(np.sum(labels == c)) for c in range(len(self.classes))]
        self.features = {c: features[labels == c] for c in range(len(self.classes))}
        self.radii = {c: knn_radii(f) for c, f in self.features.items() if len(f) > PRDC_K}
        self.references = {
            c: FrechetReference.of_features(features[labels == c], device=device)
            for c, size in enumerate(self.sizes)
            if size >= MIN_CLASS_IMAGES
        }

    def distances(self, gen_features: np.ndarray, gen_labels: np.ndarray) -> dict[str, float]:
        """FID of each class's generated images against that class's reference images."""
        return self.scores(gen_features, gen_labels)[0]

    def spreads(self, gen_features: np.ndarray, gen_labels: np.ndarray) -> dict[str, float]:
        """`spread` (see there) of each class's generated images against that class's reference."""
        return self.scores(gen_features, gen_labels)[1]

    def variety(self, gen_features: np.ndarray, gen_labels: np.ndarray) -> dict[str, dict[str, float]]:
        """Each class's recall and coverage (k = PRDC_K) against that class's reference images: a
        class whose variety collapsed shows up by name. NaN where a side has k or fewer images."""
        out = {"recall": {}, "coverage": {}}
        for c, name in enumerate(self.classes):
            scores = prdc(gen_features[gen_labels == c], self.features[c], real_radii=self.radii.get(c))
            for metric in out:
                out[metric][name] = scores[metric]
        return out

    def scores(self, gen_features: np.ndarray, gen_labels: np.ndarray) -> tuple[dict[str, float], dict[str, float]]:
        """Each class's FID and spread, in one pass: one split and one warning per class left out."""
        fids, spreads = {}, {}
        for c, name in enumerate(self.classes):
            gen = gen_features[gen_labels == c]
            if c not in self.references:
                print(
                    f"warning: per-class FID leaves out class {c} ({name}): {self.sizes[c]} reference image(s), "
                    f"{len(gen)} generated; it needs at least {MIN_CLASS_IMAGES} reference images",
                    file=sys.stderr,
                )
                continue
            if len(gen) < MIN_CLASS_IMAGES:
                raise GanlabError(
                    f"per-class FID of class {c} ({name}): needs at least {MIN_CLASS_IMAGES} generated images, "
                    f"found {len(gen)} (and {self.sizes[c]} reference); raise report.n_samples"
                )
            fids[name] = self.references[c].distance_to(gen)
            spreads[name] = spread(gen, self.references[c])
        return fids, spreads


def spread(gen_features: np.ndarray, reference: FrechetReference) -> float:
    """Tr Σ_generated / Tr Σ_reference: how varied the generated images are in Inception space,
    1 being as varied as the real ones. Below 1 is missing variety (few poses and shades, mode
    collapse). FID mixes that with wrong content; this ratio separates it out. The trace of a
    ddof=1 covariance is unbiased, so unlike FID the ratio does not drift with the sample size."""
    return float(np.var(gen_features, axis=0, ddof=1, dtype=np.float64).sum() / reference.trace)


def per_class_fid(
    gen_features: np.ndarray,
    gen_labels: np.ndarray,
    ref_features: np.ndarray,
    ref_labels: np.ndarray,
    classes: list[str],
    *,
    device: torch.device | None = None,
) -> dict[str, float]:
    """FID of each class's generated images against that class's reference images (see
    ClassReferences, which keeps the references for scoring more than one set)."""
    return ClassReferences(ref_features, ref_labels, classes, device=device).distances(gen_features, gen_labels)


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
    kid_first: bool = False,
    with_kid: bool = True,
    class_references: ClassReferences | None = None,
    ref_radii=None,
    world: World = SINGLE,
) -> dict | None:
    """FID, KID, spread and (for conditional generators) per-class FID and spread of one
    checkpoint; under torchrun the ranks share the generation and Inception passes, and rank 0 scores (None elsewhere).

    `class_references` (built from ref_features/ref_labels when None) lets a caller scoring many
    checkpoints build each class's reference once; `with_kid=False` skips KID's subset sums for
    rows that only need FID."""
    generator, meta = load_generator(checkpoint, inception.device)
    labels = balanced_labels(n, generator.num_classes, device=inception.device)
    batches = generate_batches(
        generator, n=n, batch_size=batch_size, seed=seed, device=inception.device, labels=labels, world=world
    )
    features = inception.of_batches(batches, world=world)
    if not world.is_main:
        return None
    row = {"iteration": int(meta["iteration"]), "precision": meta["config"]["params"].get("precision", "fp32")}
    scores = {"fid": reference.distance_to(features)}
    if with_kid:
        scores["kid"] = kid(features, ref_features)
    # KID first where it is the headline: JSON keeps the order, so `dvc exp show` does too.
    order = ("kid", "fid") if kid_first else ("fid", "kid")
    row.update({key: scores[key] for key in order if key in scores})
    row["spread"] = spread(features, reference)
    row["prdc"] = prdc(features, ref_features, real_radii=ref_radii)
    if generator.num_classes:
        classes = list(meta["classes"])
        if class_references is None:
            class_references = ClassReferences(
                ref_features, ref_labels, classes, device=linalg_device(inception.device)
            )
        elif class_references.classes != classes:
            raise GanlabError(
                f"{checkpoint}: the generator's classes {classes} are not the reference's {class_references.classes}"
            )
        per_class, per_class_spread = class_references.scores(features, labels.cpu().numpy())
        row["intra_fid"] = float(np.mean(list(per_class.values()))) if per_class else None
        row["per_class_fid"] = per_class
        row["per_class_spread"] = per_class_spread
        variety = class_references.variety(features, labels.cpu().numpy())
        row["per_class_recall"], row["per_class_coverage"] = variety["recall"], variety["coverage"]
    return row


def write_report(
    *,
    best: dict[str, Path],
    best_json: str | Path,
    reference_stats: str | Path,
    reference_features: str | Path,
    floor_features: str | Path,
    seeds: RunSeeds,
    n_samples: int,
    batch_size: int,
    device: str,
    out: str | Path,
) -> dict | None:
    """Score every model's best checkpoint and write metrics/report.json (under torchrun: rank 0
    writes and returns the report, the other ranks return None)."""
    if seeds.report == seeds.curve:
        raise GanlabError(
            f"report.seed: expected latents ({seeds.report}) different from the curve's ({seeds.curve}), which "
            "chose the checkpoint"
        )
    curve = json.loads(Path(best_json).read_text())
    stats = load_statistics(reference_stats)
    reference = FrechetReference(stats["mu"], stats["sigma"])
    ref_features, ref_labels = load_features(reference_features)
    world, dev = join(resolve_device(device))
    inception = InceptionFeatures(device=dev)
    split, size, pool = reference_info(stats, reference_stats)
    report = {
        "seed": seeds.entry,  # the run's entry of `seeds` (ganlab.config.RunSeeds)
        "protocol": protocol(
            n_samples=n_samples, reference_size=size, reference_split=split, reference_pool=pool, seed=seeds.report
        )
    }
    # How many processes shared the generation and Inception passes (1 unless under torchrun).
    report["protocol"]["world_size"] = world.size
    kid_first = report["protocol"]["headline"] == "kid"
    report["protocol"]["kid"] = (
        f"unbiased MMD², kernel (x·y/d + 1)³, {KID_SUBSETS} subsets, rng seed {KID_RNG_SEED}, "
        f"torch-fidelity {version('torch-fidelity')}"
    )
    report["protocol"]["per_class_fid"] = f"each class's generated images vs that class's {split} images"
    four = f"precision, recall (Kynkäänniemi et al. 2019), density, coverage (Naeem et al. 2020), k = {PRDC_K}"
    report["protocol"]["prdc"] = (
        describe(n_samples=n_samples, reference_size=size, reference_split=split, reference_pool=pool, metric=four)
        + "; per class for conditional generators (recall, coverage): each class's generated vs its reference images"
    )
    report["protocol"]["spread"] = (
        f"Tr Σ_generated / Tr Σ_{split} in the same Inception features (1: as varied as the real images), "
        "overall and per class"
    )
    ref_radii = knn_radii(ref_features) if world.is_main and len(ref_features) > PRDC_K else None
    for model, checkpoint in best.items():
        row = score_checkpoint(
            checkpoint,
            inception=inception,
            reference=reference,
            ref_features=ref_features,
            ref_labels=ref_labels,
            n=n_samples,
            seed=seeds.report,
            batch_size=batch_size,
            kid_first=kid_first,
            ref_radii=ref_radii,
            world=world,
        )
        if row is None:
            continue
        chosen = curve.get(model, {})
        if chosen.get("iteration") != row["iteration"]:
            raise GanlabError(
                f"{checkpoint}: iteration {row['iteration']} is not the one {best_json} chose for {model}"
            )
        # The biased number the checkpoint was chosen by, beside the re-score.
        row["curve_fid"], row["curve_n_samples"] = chosen["fid"], curve["protocol"]["n_samples"]
        row["curve_seed"] = curve["protocol"]["latent_seed"]
        report[model] = row
    if not world.is_main:
        return None
    floor_feats = load_features(floor_features)[0]
    floor, n_floor = floor_fid(floor_feats, reference, n=n_samples)
    other = "training" if split == "test" else "test"
    report["floor"] = {
        "fid": floor,
        "prdc": prdc(floor_feats[:n_floor], ref_features, real_radii=ref_radii),
        "n_samples": n_floor,
        "description": describe(
            n_samples=n_floor,
            reference_size=size,
            reference_split=split,
            reference_pool=pool,
            what=f"real {other} images",
        ),
    }
    atomic_write_text(json.dumps(report, indent=2) + "\n", out)
    return report
