"""Scores of a translator pair (CycleGAN): FID and KID of each direction against the other
domain's test images, and, where the two domains are secretly paired (the same emoji in two
vendors' artwork), the paired error of each translation against its true twin.

A translation is deterministic in its input, so every score here uses the fixed test images;
there is no latent seed to redraw.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from ganlab.config import FIDConfig
from ganlab.data.prepared import Split, load_split
from ganlab.errors import GanlabError
from ganlab.io import atomic_write_text
from ganlab.metrics.evaluate import cache_key, load_cache, reference_digest, write_csv
from ganlab.metrics.fid import FidError, FrechetReference, InceptionFeatures, load_statistics
from ganlab.metrics.kid import kid
from ganlab.sampling import resolve_device, translate_batches
from ganlab.training.checkpoints import list_snapshots, load_translators

DIRECTIONS = {"ab": ("g_ab", "a", "b"), "ba": ("g_ba", "b", "a")}  # direction -> (translator, source, target)
TRANSLATION_COLUMNS = (
    "iteration",
    "fid",  # the mean of the two directions' FIDs: what `select` minimises
    "fid_ab",
    "fid_ba",
    "kid_ab",
    "kid_ba",
    "mae_ab",
    "mae_ba",
    "psnr_ab",
    "psnr_ba",
    "n_samples",
    "seconds",
)
PEAK = 255.0


def paired_error(pred: Tensor, target: Tensor) -> dict[str, float | None]:
    """Mean absolute error (0–255 levels) and PSNR (dB) between uint8 images and their twins.

    PSNR = 10·log10(255² / MSE) with the MSE over every pixel of the set; identical sets have
    no finite PSNR (None)."""
    if pred.shape != target.shape or len(pred) == 0:
        raise GanlabError(
            f"paired error: expected two equally shaped non-empty sets, found {pred.shape}, {target.shape}"
        )
    diff = pred.double() - target.double()
    mse = float(diff.pow(2).mean())
    return {"mae": float(diff.abs().mean()), "psnr": 10.0 * math.log10(PEAK**2 / mse) if mse > 0 else None}


def pair_indices(source_keys: list[str] | None, target_keys: list[str] | None) -> tuple[np.ndarray, np.ndarray]:
    """Positions (i, j) with source_keys[i] == target_keys[j], in source order; empty where
    either side has no keys (its images are not paired with anything)."""
    if not source_keys or not target_keys:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    where = {key: j for j, key in enumerate(target_keys)}
    pairs = [(i, where[key]) for i, key in enumerate(source_keys) if key in where]
    i, j = zip(*pairs) if pairs else ((), ())
    return np.asarray(i, dtype=np.int64), np.asarray(j, dtype=np.int64)


def recoloured_to_twins(source: Tensor, twins: Tensor) -> Tensor:
    """Each source image recoloured by the affine colour map (C×C matrix plus offset, least
    squares over its pixels) that best fits its own twin.

    The fit sees the twin, so no translator can do this; it bounds what a translation that keeps
    the source's shapes and only changes its colours can reach: no such per-image affine
    recolouring has a higher PSNR (its MAE is close to, not exactly, the smallest)."""
    x = source.double().flatten(2).transpose(1, 2)  # (n, H·W, C)
    x = torch.cat([x, torch.ones_like(x[..., :1])], dim=-1)  # (n, H·W, C+1): the offset's column
    y = twins.double().flatten(2).transpose(1, 2)  # (n, H·W, C)
    # gelsy (the CPU default) copes with flat images, whose columns are collinear
    w = torch.linalg.lstsq(x, y).solution  # (n, C+1, C)
    return (x @ w).round().clamp(0, 255).to(torch.uint8).transpose(1, 2).reshape(twins.shape)


def paired_baselines(source: Tensor, target: Tensor, pairs, target_train_mean: Tensor) -> dict[str, dict]:
    """What a translation's paired error must beat: doing nothing (the source image itself), and
    the mean training image of the target domain (the best constant under MSE); and what it can
    hardly beat without moving shapes: each source recoloured to fit its twin (an oracle)."""
    i, j = pairs
    twins = target[j]
    constant = target_train_mean.round().clamp(0, 255).to(torch.uint8).expand_as(twins)
    return {
        "identity": paired_error(source[i], twins),
        "mean_of_target": paired_error(constant, twins),
        "recolour_oracle": paired_error(recoloured_to_twins(source[i], twins), twins),
    }


class Domains:
    """Both domains' test images and their Inception references (written by `compute_reference`)."""

    def __init__(self, *, test: dict[str, str | Path], reference: dict[str, str | Path]) -> None:
        self.test: dict[str, Split] = {d: load_split(test[d]) for d in "ab"}
        self.stats = {d: load_statistics(reference[d]) for d in "ab"}
        self.frechet = {d: FrechetReference(self.stats[d]["mu"], self.stats[d]["sigma"]) for d in "ab"}
        self.features = {d: self.stats[d]["features"] for d in "ab"}
        for d in "ab":
            if int(self.stats[d]["size"]) != len(self.test[d].labels):
                raise FidError(
                    f"{reference[d]}: statistics of {int(self.stats[d]['size'])} images, but {test[d]} holds "
                    f"{len(self.test[d].labels)}; re-run `dvc repro reference_cyclegan`"
                )
        self.pairs = {
            direction: pair_indices(self.test[s].keys, self.test[t].keys) for direction, (_, s, t) in DIRECTIONS.items()
        }


def score_translators(
    translators: dict[str, torch.nn.Module],
    domains: Domains,
    *,
    inception: InceptionFeatures,
    n: int | None,
    batch_size: int,
) -> tuple[dict, dict[str, np.ndarray]]:
    """FID, KID and paired error of both directions on the first n test images of each source
    domain (all of them for None); returns the row and each direction's Inception features."""
    row, features = {}, {}
    for direction, (key, source, target) in DIRECTIONS.items():
        images = domains.test[source].images[:n]
        out = torch.cat(
            list(translate_batches(translators[key], images, batch_size=batch_size, device=inception.device))
        )
        features[direction] = inception(out)
        row[f"fid_{direction}"] = domains.frechet[target].distance_to(features[direction])
        row[f"kid_{direction}"] = kid(features[direction], domains.features[target])["mean"]
        i, j = domains.pairs[direction]
        keep = i < len(images)
        error = (
            paired_error(out[i[keep]].cpu(), domains.test[target].images[j[keep]])
            if keep.any()
            else {"mae": None, "psnr": None}
        )
        row[f"mae_{direction}"], row[f"psnr_{direction}"] = error["mae"], error["psnr"]
    if not all(np.isfinite(row[f"fid_{d}"]) for d in DIRECTIONS):
        raise FidError(f"FID is not finite ({row}); the translators may have diverged")
    row["fid"] = (row["fid_ab"] + row["fid_ba"]) / 2
    return row, features


def evaluate_translation_checkpoints(
    *,
    checkpoints_dir: str | Path,
    test: dict[str, str | Path],
    reference: dict[str, str | Path],
    cfg: FIDConfig,
    device: str,
    csv_out: str | Path,
    cache_path: str | Path,
    progress: bool = True,
) -> list[dict]:
    """Score every `iter_*.pt` in both directions on min(fid.n_samples, test size) test images;
    rows sorted by iteration, written to `csv_out`, cached per checkpoint like the FID stage."""
    checkpoints = list_snapshots(checkpoints_dir)
    if not checkpoints:
        raise FidError(f"{checkpoints_dir}: no iter_*.pt checkpoints to evaluate; run the train stage first")
    domains = Domains(test=test, reference=reference)
    n = min(cfg.n_samples, *(len(domains.test[d].labels) for d in "ab"))
    cache_path = Path(cache_path)
    cache = load_cache(cache_path)
    ref_sha = reference_digest(*(Path(reference[d]) for d in "ab"), *(Path(test[d]) / "meta.json" for d in "ab"))
    keys = {ckpt: cache_key(ckpt, cfg, 0, ref_sha) for ckpt in checkpoints}
    todo = [ckpt for ckpt in checkpoints if keys[ckpt] not in cache]
    print(f"translation scores: {len(checkpoints) - len(todo)} checkpoints cached, {len(todo)} to evaluate")
    if todo:
        dev = resolve_device(device)
        inception = InceptionFeatures(device=dev)
        for ckpt in tqdm(todo, desc="FID", unit="ckpt", disable=not progress):
            start = time.perf_counter()
            translators, meta = load_translators(ckpt, dev)
            _check_fits(ckpt, meta, domains)
            row, _ = score_translators(translators, domains, inception=inception, n=n, batch_size=cfg.batch_size)
            row.update(iteration=int(meta["iteration"]), n_samples=n, seconds=round(time.perf_counter() - start, 3))
            cache[keys[ckpt]] = {"checkpoint": ckpt.name, **row}
            atomic_write_text(json.dumps(cache, indent=1, sort_keys=True), cache_path)
    rows = [{k: cache[keys[ckpt]][k] for k in TRANSLATION_COLUMNS} for ckpt in checkpoints]
    write_csv(rows, Path(csv_out), TRANSLATION_COLUMNS)
    return sorted(rows, key=lambda r: r["iteration"])


def _check_fits(ckpt: Path, meta: dict, domains: Domains) -> None:
    shape = list(meta["image_shape"])
    for d in "ab":
        found = list(domains.test[d].images.shape[1:])
        if shape != found:
            raise FidError(
                f"{ckpt}: translates images of shape {shape}, the test images of domain {d.upper()} are {found}"
            )
