"""Scores of a translator pair: the paired error and its baselines on known images, and the
reference -> per-checkpoint scores -> select -> report chain on a tiny paired fixture."""

import json
import math

import numpy as np
import pytest
import torch
import yaml

from ganlab.config import parse_params
from ganlab.errors import GanlabError
from ganlab.metrics.reference import compute_translation_reference
from ganlab.metrics.translation import (
    TRANSLATION_COLUMNS,
    evaluate_translation_checkpoints,
    pair_indices,
    paired_baselines,
    paired_error,
    recoloured_to_twins,
)
from ganlab.metrics.translation_report import select_translator, write_translation_report
from tests.conftest import REPO
from tests.test_cyclegan import _train


def _images(values, size=4):
    return torch.stack([torch.full((3, size, size), v, dtype=torch.uint8) for v in values])


def test_identical_images_score_zero_and_known_errors_are_exact():
    a = torch.randint(0, 256, (5, 3, 8, 8), dtype=torch.uint8)
    assert paired_error(a, a.clone()) == {"mae": 0.0, "psnr": None}
    err = paired_error(_images([10, 20]), _images([0, 0]))  # |10| and |20|: MSE (100 + 400) / 2
    assert err["mae"] == 15.0 and err["psnr"] == pytest.approx(10 * math.log10(255**2 / 250))
    assert paired_error(_images([0]), _images([255]))["psnr"] == 0.0  # the largest possible error
    with pytest.raises(GanlabError, match="equally shaped"):
        paired_error(_images([1, 2]), _images([1]))


def test_pairs_follow_keys_not_positions():
    i, j = pair_indices(["x", "y", "z"], ["z", "w", "x"])
    assert i.tolist() == [0, 2] and j.tolist() == [2, 0]
    assert len(pair_indices(None, ["x"])[0]) == 0 and len(pair_indices(["x"], ["y"])[0]) == 0


def test_identity_baseline_compares_each_source_with_its_own_twin():
    source, target = _images([10, 50, 90]), _images([90, 50, 0])
    pairs = pair_indices(["a", "b", "c"], ["c", "b", "a"])  # target is stored in reverse order
    out = paired_baselines(source, target, pairs, target_train_mean=torch.full((3, 4, 4), 20.4, dtype=torch.float64))
    # twins: 10 <-> 0, 50 <-> 50, 90 <-> 90
    assert out["identity"]["mae"] == pytest.approx(10 / 3)
    # the constant image rounds to 20: |20 - 0|, |20 - 50|, |20 - 90|
    assert out["mean_of_target"]["mae"] == pytest.approx((20 + 30 + 70) / 3)


def test_the_recolouring_oracle_recovers_a_colour_map_and_never_loses_to_identity():
    g = torch.Generator().manual_seed(0)
    source = torch.randint(0, 64, (4, 3, 8, 8), generator=g, dtype=torch.uint8) * 4
    mix = torch.tensor([[0.5, 0.25, 0.0], [0.25, 0.25, 0.25], [0.0, 0.25, 0.5]], dtype=torch.float64)
    twins = (torch.einsum("dc,nchw->ndhw", mix, source.double()) + 20).to(torch.uint8)  # whole levels, in 0..255
    assert paired_error(recoloured_to_twins(source, twins), twins)["mae"] == 0.0
    # with unrelated twins the fit is least squares over a family holding "do nothing"
    other = torch.randint(0, 256, (4, 3, 8, 8), generator=g, dtype=torch.uint8)
    fitted = paired_error(recoloured_to_twins(source, other), other)
    assert fitted["psnr"] > paired_error(source, other)["psnr"]
    # a flat source has collinear columns: the fit falls back to the twin's mean colour
    flat = _images([7, 7])
    assert recoloured_to_twins(flat, _images([30, 50])).flatten().tolist() == [30] * 48 + [50] * 48


def test_scores_select_and_report_on_a_paired_fixture(domains):
    _train(domains, iterations=4, ckpt_every=2)
    params = parse_params(yaml.safe_load((domains / "params.yaml").read_text()))
    test = {d: domains / f"data/{d}/test" for d in "ab"}
    train = {d: domains / f"data/{d}/train" for d in "ab"}
    reference = {d: domains / f"fid/{d}.npz" for d in "ab"}
    compute_translation_reference(test=test, train=train, out=reference, batch_size=8, device="cpu")
    kwargs = dict(checkpoints_dir=domains / "run/models/checkpoints", test=test, reference=reference,
                  cfg=params.fid, device="cpu", csv_out=domains / "fid.csv", cache_path=domains / "cache.json",
                  progress=False)  # fmt: skip
    rows = evaluate_translation_checkpoints(**kwargs)
    assert [r["iteration"] for r in rows] == [2, 4] and set(rows[0]) == set(TRANSLATION_COLUMNS)
    for r in rows:
        assert r["fid"] == pytest.approx((r["fid_ab"] + r["fid_ba"]) / 2) and r["n_samples"] == 3
        assert r["mae_ab"] > 0 and r["psnr_ab"] > 0  # every test image of A has its twin in B
    assert evaluate_translation_checkpoints(**kwargs) == rows  # the second pass reads the cache

    best = select_translator(fid_csv=domains / "fid.csv", checkpoints_dir=kwargs["checkpoints_dir"], test=test,
                             reference=reference, metrics_out=domains / "best.json",
                             best_out=domains / "best.pt")  # fmt: skip
    chosen = min(rows, key=lambda r: (r["fid"], r["iteration"]))
    assert best["cyclegan"] == {"iteration": chosen["iteration"], "fid": chosen["fid"]}
    assert best["protocol"]["headline"] == "kid" and best["protocol"]["reference_size"] == {"a": 3, "b": 3}

    report = write_translation_report(best=domains / "best.pt", best_json=domains / "best.json", test=test,
                                      train=train, reference=reference, batch_size=8, device="cpu",
                                      out=domains / "report.json")  # fmt: skip
    row = report["cyclegan"]
    assert row["iteration"] == chosen["iteration"] and row["curve_fid"] == chosen["fid"]
    for direction in ("ab", "ba"):
        entry = row[direction]
        assert list(entry)[:2] == ["kid", "fid"]  # KID leads on 3 reference images
        assert entry["fid"] == pytest.approx(chosen[f"fid_{direction}"])
        assert entry["paired"]["n_pairs"] == 3
        assert entry["paired"]["translation"]["mae"] == pytest.approx(chosen[f"mae_{direction}"])
        assert {"identity", "floor"} <= set(entry) and "mean_of_target" in entry["paired"]
    # B is A's negative: "doing nothing" is off by |2x - 255| per pixel on average.
    a = np.load(domains / "data/a/test/images.npy").astype(float)
    assert row["ab"]["paired"]["identity"]["mae"] == pytest.approx(np.abs(2 * a - 255).mean())
    # ... while recolouring each image to its twin (255 - x, an affine colour map) is exact
    assert row["ab"]["paired"]["recolour_oracle"] == {"mae": 0.0, "psnr": None}
    assert json.loads((domains / "report.json").read_text()) == report


def test_a_reference_of_another_size_names_the_stage_that_rebuilds_it(domains):
    from ganlab.metrics.fid import FidError
    from ganlab.metrics.translation import Domains

    test = {d: domains / f"data/{d}/test" for d in "ab"}
    reference = {d: domains / f"fid/{d}.npz" for d in "ab"}
    compute_translation_reference(test=test, train={d: domains / f"data/{d}/train" for d in "ab"}, out=reference,
                                  batch_size=8, device="cpu")  # fmt: skip
    stats = dict(np.load(reference["b"]))
    np.savez(reference["b"], **{**stats, "size": np.array(99)})
    hint = r"b.npz: statistics of 99 images, but .*holds 3; re-run `dvc repro reference_cyclegan`"
    with pytest.raises(FidError, match=hint):
        Domains(test=test, reference=reference)
    # the stage it names exists
    assert "reference_cyclegan" in yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def test_report_baselines_come_from_the_right_domain_on_an_asymmetric_pair(tmp_path):
    """B = A // 2 (darker twins, same file names): every baseline of A→B differs from B→A's, so
    each is checked against its value computed here from the right domain's images or features."""
    from PIL import Image

    from ganlab.data.domains import prepare_domains
    from ganlab.data.prepared import load_split
    from ganlab.metrics.fid import FrechetReference, load_statistics
    from tests.conftest import tiny_params, write_image_folder

    write_image_folder(tmp_path / "img/a", {"": 10}, size=32)
    (tmp_path / "img/b").mkdir()
    for path in sorted((tmp_path / "img/a").glob("*.png")):
        pixels = np.asarray(Image.open(path).convert("RGB"))
        Image.fromarray(pixels).save(path)
        Image.fromarray(pixels // 2).save(tmp_path / "img/b" / path.name)
    p = tiny_params(**{"cyclegan.source": str(tmp_path / "img"), "cyclegan.domain_a": "folder:a",
                       "cyclegan.domain_b": "folder:b", "data.test_fraction": 0.3})  # fmt: skip
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(p))
    params = parse_params(p)
    outs = {d: (tmp_path / f"data/{d}/train", tmp_path / f"data/{d}/test") for d in "ab"}
    prepare_domains(params.cyclegan, params.data, outs=outs, bad_out=tmp_path / "data/bad.txt")
    _train(tmp_path, iterations=2, ckpt_every=2)
    test, train = ({d: outs[d][i] for d in "ab"} for i in (1, 0))
    reference = {d: tmp_path / f"fid/{d}.npz" for d in "ab"}
    compute_translation_reference(test=test, train=train, out=reference, batch_size=8, device="cpu")
    evaluate_translation_checkpoints(checkpoints_dir=tmp_path / "run/models/checkpoints", test=test,
                                     reference=reference, cfg=params.fid, device="cpu", csv_out=tmp_path / "fid.csv",
                                     cache_path=tmp_path / "cache.json", progress=False)  # fmt: skip
    select_translator(fid_csv=tmp_path / "fid.csv", checkpoints_dir=tmp_path / "run/models/checkpoints", test=test,
                      reference=reference, metrics_out=tmp_path / "best.json",
                      best_out=tmp_path / "best.pt")  # fmt: skip
    row = write_translation_report(best=tmp_path / "best.pt", best_json=tmp_path / "best.json", test=test, train=train,
                                   reference=reference, batch_size=8, device="cpu",
                                   out=tmp_path / "report.json")["cyclegan"]  # fmt: skip

    images = {d: load_split(test[d]).images.double() for d in "ab"}  # same order: the keys are the file names
    train_mean = {d: load_split(train[d]).images.double().mean(0).round() for d in "ab"}
    stats = {d: load_statistics(reference[d]) for d in "ab"}
    for direction, source, target in (("ab", "a", "b"), ("ba", "b", "a")):
        paired = row[direction]["paired"]
        diff = images[source] - images[target]
        assert paired["identity"]["mae"] == pytest.approx(diff.abs().mean().item())
        assert paired["identity"]["psnr"] == pytest.approx(10 * math.log10(255**2 / diff.pow(2).mean().item()))
        constant = train_mean[target].expand_as(images[target]) - images[target]
        assert paired["mean_of_target"]["mae"] == pytest.approx(constant.abs().mean().item())
        expected_psnr = 10 * math.log10(255**2 / constant.pow(2).mean().item())
        assert paired["mean_of_target"]["psnr"] == pytest.approx(expected_psnr)
        frechet = FrechetReference(stats[target]["mu"], stats[target]["sigma"])
        floor = frechet.distance_to(stats[target]["floor_features"])
        assert row[direction]["floor"]["fid"] == pytest.approx(floor)
        assert row[direction]["identity"]["fid"] == pytest.approx(frechet.distance_to(stats[source]["features"]))
    # the two directions' baselines differ, so a swap of a and b would show
    assert row["ab"]["paired"]["mean_of_target"]["mae"] != pytest.approx(row["ba"]["paired"]["mean_of_target"]["mae"])
    assert row["ab"]["floor"]["fid"] != pytest.approx(row["ba"]["floor"]["fid"])
