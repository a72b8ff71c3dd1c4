"""Statistics over training seeds (ganlab.metrics.seeds), the summary of a set of runs
(ganlab.metrics.summary), the comparison of configurations (ganlab.compare) and the study file
(ganlab.study), on hand-made values and files."""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from ganlab.compare import compare, rows_of, to_markdown
from ganlab.errors import GanlabError
from ganlab.metrics.seeds import summarize, welch_difference
from ganlab.metrics.summary import aggregate, curve_rows, summarize_runs
from ganlab.study import code_env, failure_message, load_study, train_side_by_side
from tests.conftest import REPO


def test_summary_is_students_t_over_seeds():
    values = [31.2, 26.5, 29.9, 35.0]
    s = summarize(values)
    low, high = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    assert s["n"] == 4 and s["mean"] == pytest.approx(np.mean(values))
    assert s["std"] == pytest.approx(np.std(values, ddof=1))
    assert (s["ci95_low"], s["ci95_high"]) == (pytest.approx(low), pytest.approx(high))
    one = summarize([17.7])
    assert one["mean"] == 17.7 and one["std"] is None and one["ci95_low"] is None  # no spread from one run


def test_welch_difference_matches_scipy_and_says_inconclusive_when_the_ci_holds_zero():
    a, b = [30.1, 31.5, 29.8], [40.2, 44.9, 38.7, 41.0]
    d = welch_difference(a, b)
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert d["difference"] == pytest.approx(np.mean(a) - np.mean(b))
    assert (d["ci95_low"], d["ci95_high"]) == (pytest.approx(ci.low), pytest.approx(ci.high))
    assert d["verdict"] == "lower"  # the CI lies below 0
    overlapping = welch_difference([30.0, 40.0, 35.0], [33.0, 37.0, 36.0])
    assert overlapping["ci95_low"] < 0 < overlapping["ci95_high"] and overlapping["verdict"] == "inconclusive"
    one_seed = welch_difference([30.0], [40.0, 41.0])
    assert one_seed["verdict"] == "inconclusive" and one_seed["ci95_low"] is None


def _summary(values: dict[str, dict[str, list[float]]]) -> dict:
    return {"method": "x", "seeds": [0, 1, 2], **{m: {k: {"values": v, **summarize(v)} for k, v in d.items()}
                                                   for m, d in values.items()}}  # fmt: skip


def test_compare_tells_a_real_difference_from_an_inconclusive_one():
    a = rows_of("lr-a", {"metrics/summary.json": _summary({"sagan": {"fid": [30.0, 31.0, 29.5],
                                                                     "recall": [0.1, 0.3, 0.2]}})})  # fmt: skip
    b = rows_of("lr-b", {
        "metrics/summary.json": _summary({"sagan": {"fid": [40.0, 42.0, 41.5], "recall": [0.15, 0.35, 0.1]}}),
        "metrics/cyclegan/summary.json": _summary({"cyclegan": {"fid": [90.0, 91.0, 92.0]}}),
    })  # fmt: skip
    result = compare(a + b, across_models=True)
    by_metric = {d["metric"]: d for d in result["differences"]}
    assert set(by_metric) == {"fid", "recall"}  # never a GAN against the translator
    assert by_metric["fid"]["verdict"] == "lower"
    assert by_metric["fid"]["difference"] == pytest.approx(30.1666 - 41.1666, abs=1e-3)
    assert by_metric["recall"]["verdict"] == "inconclusive"
    text = to_markdown(result)
    assert "| lr-a · sagan − lr-b · sagan | fid | -11.0 [" in text and "lr-a · sagan better (lower)" in text
    assert "| lr-a · sagan − lr-b · sagan | recall |" in text and "inconclusive (the CI contains 0)" in text


def test_aggregate_names_a_seed_that_lacks_a_metric():
    per_seed = {0: {"sagan": {"fid": 1.0, "intra_fid": 2.0}}, 1: {"sagan": {"fid": 1.5}}}
    with pytest.raises(GanlabError, match=r"sagan.intra_fid: seeds \[1\] lack it"):
        aggregate(per_seed)


def test_curve_mean_and_band_only_where_every_seed_scored():
    tables = {0: [{"iteration": 1000, "fid": 50.0}, {"iteration": 2000, "fid": 40.0}],
              1: [{"iteration": 1000, "fid": 60.0}]}  # fmt: skip
    rows = curve_rows(tables, "fid")
    mean = [r for r in rows if r["seed"] == "mean"]
    assert [r["iteration"] for r in mean] == [1000] and mean[0]["value"] == 55.0
    half = stats.t.ppf(0.975, 1) * np.std([50, 60], ddof=1) / math.sqrt(2)
    assert mean[0]["ci95_high"] == pytest.approx(55 + half)
    assert len([r for r in rows if r["seed"] != "mean"]) == 3


def _write_run(run, seed: int, *, fid: float) -> None:
    run.mkdir(parents=True)
    protocol = {"description": "FID, 8 generated vs the 20 test images", "latent_seed": seed}
    (run / "best.json").write_text(json.dumps({"protocol": protocol, "dcgan": {"fid": fid + 1, "iteration": 2}}))
    prdc = {"precision": 0.5, "recall": 0.4, "density": 0.9, "coverage": 0.3}
    report = {"protocol": {"description": "FID, 20 generated"}, "floor": {"fid": 3.0, "prdc": {"precision": 0.8}},
              "dcgan": {"fid": fid, "kid": {"mean": fid / 1000}, "prdc": prdc}}  # fmt: skip
    (run / "report.json").write_text(json.dumps(report))
    (run / "dcgan/live").mkdir(parents=True)
    (run / "dcgan/live/metrics.json").write_text(json.dumps({"step": 2, "seconds": 10.0 + seed}))
    (run / "dcgan/fid.csv").write_text(f"iteration,fid,n_samples\n2,{fid + 1},8\n")


def test_summary_of_runs_and_a_missing_seed_named(tmp_path):
    for seed, fid in ((0, 30.0), (1, 34.0)):
        _write_run(tmp_path / "runs" / str(seed), seed, fid=fid)
    summary, curves = summarize_runs(runs=tmp_path / "runs", seeds=[0, 1], models=["dcgan"],
                                     summary_out=tmp_path / "summary.json", curves_out=tmp_path / "curves")  # fmt: skip
    assert summary["dcgan"]["fid"]["values"] == [30.0, 34.0] and summary["dcgan"]["fid"]["mean"] == 32.0
    assert summary["dcgan"]["training_seconds"]["values"] == [10.0, 11.0]
    assert "Student's t" in summary["method"] and json.loads((tmp_path / "summary.json").read_text()) == summary
    assert (tmp_path / "curves/fid.csv").read_text().splitlines()[0] == "model,seed,iteration,value,ci95_low,ci95_high"
    with pytest.raises(GanlabError, match=r"seed 2: .*runs/2/best.json not found; that run has not finished"):
        summarize_runs(runs=tmp_path / "runs", seeds=[0, 1, 2], models=["dcgan"],
                       summary_out=tmp_path / "s.json", curves_out=tmp_path / "c")  # fmt: skip


def test_a_study_file_is_checked_before_anything_runs(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("seeds: [0, 1]\narms:\n  a: {sagan: {lr_d: 2.0e-4}}\n  b: {sagan: {lr_dd: 1}}\n")
    with pytest.raises(GanlabError, match=r"arms.b: sagan.lr_dd: no such key in params.yaml"):
        load_study(path, params_file=REPO / "params.yaml")
    path.write_text("seeds: [0, 1]\narms:\n  a: {}\nlength: 3\n")
    with pytest.raises(GanlabError, match=r"unknown key\(s\) \['length'\]"):
        load_study(path, params_file=REPO / "params.yaml")
    study = load_study(REPO / "studies/results.yaml", params_file=REPO / "params.yaml")
    assert study.seeds == [0, 1, 2] and study.arms[0].params["seeds"] == [0, 1, 2]


def test_a_failed_seed_is_named_and_the_others_still_run(tmp_path):
    commands = {"train@sagan-0": "true", "train@sagan-1": "false", "train@dcgan-1": "true"}
    failed = train_side_by_side(tmp_path, commands, jobs=2, log_dir=tmp_path / "logs")
    assert failed == ["train@sagan-1"] and (tmp_path / "logs/train@dcgan-1.log").exists()
    message = failure_message("results-x", failed, tmp_path / "logs")
    assert message.startswith("results-x: seed(s) 1 failed to train (train@sagan-1)")


def test_an_arm_runs_its_worktrees_own_code_not_the_installed_checkouts(tmp_path):
    """ganlab is installed editable from the main checkout; an arm's worktree holds the commit its
    experiment records, and its stages must import that code."""
    (tmp_path / "ganlab").mkdir()
    (tmp_path / "ganlab/__init__.py").write_text("WHICH = 'the worktree'\n")
    probe = f"{sys.executable} -c \"import ganlab, sys; sys.exit(ganlab.WHICH != 'the worktree')\""
    assert train_side_by_side(tmp_path, {"train@sagan-0": probe}, jobs=2, log_dir=tmp_path / "logs") == []
    env = code_env(tmp_path, {"PYTHONPATH": "/elsewhere"})
    assert env["PYTHONPATH"].split(os.pathsep) == [str(tmp_path.resolve()), "/elsewhere"]
    found = subprocess.run([sys.executable, "-c", "import ganlab; print(ganlab.__file__)"], env=code_env(tmp_path),
                           capture_output=True, text=True, cwd=tmp_path / "ganlab")  # fmt: skip
    assert found.stdout.strip() == str(tmp_path.resolve() / "ganlab/__init__.py")


def test_a_study_compares_the_arms_that_finished_and_names_the_others(tmp_path):
    from ganlab.study import compare_study

    study = load_study(REPO / "studies/cyclegan.yaml", params_file=REPO / "params.yaml")
    worktrees = {arm.name: tmp_path / arm.name for arm in study.arms}
    done = worktrees["defaults"] / "metrics/cyclegan/summary.json"
    done.parent.mkdir(parents=True)
    done.write_text(json.dumps(_summary({"cyclegan": {"kid_ab": [0.07, 0.08, 0.075]}})))
    text = compare_study(study, worktrees, tmp_path / "out")
    assert "Not run yet, so not compared: no-identity, no-jitter, 3-blocks, bf16." in text
    assert "cyclegan-defaults · cyclegan" in text and (tmp_path / "out/compare.json").exists()
    done.unlink()
    with pytest.raises(GanlabError, match=r"cyclegan: no arm has finished yet \(defaults, no-identity"):
        compare_study(study, worktrees, tmp_path / "out")
