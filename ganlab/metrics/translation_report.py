"""The reference, selection and report of a translator pair (CycleGAN).

Report: the best checkpoint re-scored on every test image, each direction's FID and KID beside
two baselines, "do nothing" (the source images as they are) and the floor (real training
images of the target domain), and, where the domains are paired, the paired error beside the
identity and mean-of-target baselines. A translation that does not beat "do nothing" shows it.
"""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch

from ganlab.data.prepared import load_split
from ganlab.errors import GanlabError
from ganlab.io import atomic_write_text
from ganlab.metrics.fid import FrechetReference, InceptionFeatures
from ganlab.metrics.kid import KID_RNG_SEED, KID_SUBSETS, kid
from ganlab.metrics.protocol import FULL_RANK, code_version, count_words, feature_network
from ganlab.metrics.select import best_of, copy_best, read_fid_csv
from ganlab.metrics.translation import DIRECTIONS, Domains, paired_baselines, paired_error, score_translators
from ganlab.sampling import resolve_device, translate
from ganlab.training.checkpoints import load_translators


def translation_protocol(*, n: dict[str, int], sizes: dict[str, int], pairs: dict[str, int], selection: str) -> dict:
    """The protocol block of a translator's best.json and report.json; `n`: images translated per
    direction ("ab", "ba")."""
    size = min(sizes.values())
    return {
        "description": (
            f"FID and KID of G_AB(test A) vs test B ({count_words(n['ab'])} translated vs the "
            f"{count_words(sizes['b'])} test images) and of G_BA(test B) vs test A ({count_words(n['ba'])} vs "
            f"{count_words(sizes['a'])}), pytorch-fid Inception"
        ),
        "n_translated": n,
        "reference_split": "test",
        "reference_size": sizes,
        "headline": "kid" if size < FULL_RANK else "fid",
        "feature_network": feature_network(),
        "kid": (
            f"unbiased MMD², kernel (x·y/d + 1)³, {KID_SUBSETS} subsets, rng seed {KID_RNG_SEED}, "
            f"torch-fidelity {version('torch-fidelity')}"
        ),
        "paired_error": (
            f"mean absolute error (0-255 levels) and PSNR (dB, over the set's MSE) of each translation against the "
            f"other domain's image with the same key, over the test pairs ({pairs['ab']} A->B, {pairs['ba']} B->A)"
        ),
        "selection": selection,
        **code_version(),
    }


SELECTION = (
    "the checkpoint with the lowest mean of the two FIDs, scored on the same test images as the report "
    "(a translation has no latent seed to redraw, so the report's FID carries the choice's optimism)"
)


def select_translator(
    *, fid_csv: str | Path, checkpoints_dir: str | Path, test: dict, reference: dict, metrics_out, best_out
) -> dict:
    """The lowest mean FID of `fid_csv` -> best.json and a copy of its snapshot at `best_out`."""
    rows = read_fid_csv(fid_csv)
    row = best_of(rows)
    copy_best(row, fid_csv=fid_csv, checkpoints_dir=checkpoints_dir, out=best_out)
    domains = Domains(test=test, reference=reference)
    out = {
        "protocol": translation_protocol(
            n={"ab": row["n_samples"], "ba": row["n_samples"]},
            sizes={d: len(domains.test[d].labels) for d in "ab"},
            pairs={k: len(v[0]) for k, v in domains.pairs.items()},
            selection=SELECTION,
        ),
        "cyclegan": {"iteration": row["iteration"], "fid": row["fid"]},
    }
    atomic_write_text(json.dumps(out, indent=2) + "\n", metrics_out)
    return out


def _fid_kid(features: np.ndarray, reference: FrechetReference, ref_features: np.ndarray, kid_first: bool) -> dict:
    fid, kid_ = reference.distance_to(features), kid(features, ref_features)
    return {"kid": kid_, "fid": fid} if kid_first else {"fid": fid, "kid": kid_}


def write_translation_report(
    *,
    best: str | Path,
    best_json: str | Path,
    test: dict[str, str | Path],
    train: dict[str, str | Path],
    reference: dict[str, str | Path],
    batch_size: int,
    device: str,
    out: str | Path,
) -> dict:
    """Re-score the chosen checkpoint on every test image; write report.json."""
    curve = json.loads(Path(best_json).read_text())
    domains = Domains(test=test, reference=reference)
    inception = InceptionFeatures(device=resolve_device(device))
    translators, meta = load_translators(best, inception.device)
    if curve.get("cyclegan", {}).get("iteration") != int(meta["iteration"]):
        raise GanlabError(f"{best}: iteration {meta['iteration']} is not the one {best_json} chose")
    sizes = {d: len(domains.test[d].labels) for d in "ab"}
    report = {
        "protocol": translation_protocol(
            n={"ab": sizes["a"], "ba": sizes["b"]},
            sizes=sizes,
            pairs={k: len(v[0]) for k, v in domains.pairs.items()},
            selection=SELECTION,
        )
    }
    report["protocol"]["baselines"] = (
        "identity: the source test images as they are; floor: real training images of the target domain, as many as "
        "its test images; "
        "mean_of_target: the mean training image of the target domain (paired error only); "
        "recolour_oracle: each source image under the affine colour map fitted to its own twin, a bound for "
        "translations that keep the source's shapes, not a translator (paired error only)"
    )
    kid_first = report["protocol"]["headline"] == "kid"
    _, features = score_translators(translators, domains, inception=inception, n=None, batch_size=batch_size)
    row = {"iteration": int(meta["iteration"]), "curve_fid": curve["cyclegan"]["fid"]}
    for direction, (key, source, target) in DIRECTIONS.items():
        ref = domains.frechet[target], domains.features[target]
        entry = {
            **_fid_kid(features[direction], *ref, kid_first),
            "identity": _fid_kid(domains.features[source], *ref, kid_first),
            "floor": _fid_kid(domains.stats[target]["floor_features"], *ref, kid_first),
        }
        i, j = domains.pairs[direction]
        if len(i):
            source_images, target_images = domains.test[source].images, domains.test[target].images
            translated = translate(translators[key], source_images[i], batch_size=batch_size, device=inception.device)
            train_images = load_split(train[target]).images
            target_mean = train_images.sum(0, dtype=torch.float64) / len(train_images)
            entry["paired"] = {
                "n_pairs": len(i),
                "translation": paired_error(translated, target_images[j]),
                **paired_baselines(source_images, target_images, (i, j), target_mean),
            }
        row[direction] = entry
    report["cyclegan"] = row
    atomic_write_text(json.dumps(report, indent=2) + "\n", out)
    return report
