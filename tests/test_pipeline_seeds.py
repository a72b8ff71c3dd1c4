"""`seeds` through DVC: each seed its own cached stages, the summary's mean and CI from the runs'
own files, a seed added or removed re-running only what it must, experiments compared over seeds,
and a study run as DVC experiments. One temporary repo; the tests run in order."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import stats

from tests.conftest import write_cifar10
from tests.dvc_repo import cifar_params, env, make_repo, noise_stages, ran, run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("seeds")
    write_cifar10(root / "cifar", per_batch=20)
    return make_repo(root / "repo", **cifar_params(root / "cifar", seeds=[0, 1]))


def _set_seeds(repo: Path, seeds: list[int]) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["seeds"] = seeds
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def test_two_seeds_give_a_summary_recomputed_from_their_runs(repo):
    out = run(repo, "dvc", "repro", "summarize")
    assert ran(out) == noise_stages(0, 1) - {"render@0", "render@1"}
    summary = json.loads((repo / "metrics/summary.json").read_text())
    assert summary["seeds"] == [0, 1] and "Student's t" in summary["method"]
    for model in ("dcgan", "sagan"):
        reports = [json.loads((repo / f"metrics/seeds/{s}/report.json").read_text())[model] for s in (0, 1)]
        bests = [json.loads((repo / f"metrics/seeds/{s}/best.json").read_text())[model] for s in (0, 1)]
        for name, values in (("fid", [r["fid"] for r in reports]), ("best_fid", [b["fid"] for b in bests]),
                             ("kid", [r["kid"]["mean"] for r in reports]),
                             ("training_seconds", [json.loads((repo / f"metrics/seeds/{s}/{model}/live/metrics.json")
                                                              .read_text())["seconds"] for s in (0, 1)])):  # fmt: skip
            s = summary[model][name]
            low, high = stats.t.interval(0.95, 1, loc=np.mean(values), scale=stats.sem(values))
            assert s["values"] == values and s["n"] == 2 and s["mean"] == pytest.approx(np.mean(values))
            assert (s["ci95_low"], s["ci95_high"]) == (pytest.approx(low), pytest.approx(high)), (model, name)
    assert "intra_fid" in summary["sagan"] and "intra_fid" not in summary["dcgan"]
    # the two runs are two trainings: their weights and their scores differ
    assert summary["sagan"]["fid"]["values"][0] != summary["sagan"]["fid"]["values"][1]
    curve = (repo / "metrics/curves/fid.csv").read_text().splitlines()
    assert curve[0] == "model,seed,iteration,value,ci95_low,ci95_high"
    assert {line.split(",")[1] for line in curve[1:]} == {"0", "1", "mean"}
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-qm", "two seeds")


def test_a_third_seed_runs_only_its_own_stages_and_removing_one_only_the_summary(repo):
    _set_seeds(repo, [0, 1, 2])
    out = run(repo, "dvc", "repro", "summarize")
    assert ran(out) == {"train@dcgan-2", "train@sagan-2", "fid@dcgan-2", "fid@sagan-2", "select@2", "report@2",
                        "summarize"}  # fmt: skip
    assert json.loads((repo / "metrics/summary.json").read_text())["dcgan"]["fid"]["n"] == 3
    _set_seeds(repo, [0, 2])
    out = run(repo, "dvc", "repro", "summarize")
    assert ran(out) == {"summarize"}
    summary = json.loads((repo / "metrics/summary.json").read_text())
    seed2 = json.loads((repo / "metrics/seeds/2/report.json").read_text())["sagan"]["fid"]
    assert summary["seeds"] == [0, 2] and summary["sagan"]["fid"]["values"][1] == seed2
    _set_seeds(repo, [0, 1])
    assert ran(run(repo, "dvc", "repro", "summarize")) == {"summarize"}


def test_experiments_show_their_ci_and_compare_over_seeds(repo):
    out = run(repo, "dvc", "exp", "run", "-n", "lr-g-high", "-S", "sagan.lr_g=5e-3", "summarize")
    assert "train@dcgan-0" not in ran(out) and {"train@sagan-0", "train@sagan-1"} <= ran(out)
    shown = json.dumps(json.loads(run(repo, "dvc", "exp", "show", "--json")))
    summary = json.loads((repo / "metrics/summary.json").read_text())
    assert "lr-g-high" in shown and str(summary["sagan"]["fid"]["ci95_high"])[:8] in shown
    run(repo, "dvc", "plots", "diff", "HEAD", "lr-g-high", "--out", "plots_html")
    html = (repo / "plots_html/index.html").read_text()
    assert "FID over seeds" in html and "ci95_low" in html and "lr-g-high" in html
    result = subprocess.run([sys.executable, "-m", "ganlab.compare", "HEAD", "lr-g-high", "--out", "cmp"], cwd=repo,
                            env=env(), capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr
    compared = json.loads((repo / "cmp.json").read_text())
    fid = next(d for d in compared["differences"] if d["metric"] == "fid" and "sagan" in d["a"])
    values = [r["metrics"]["fid"]["values"] for r in compared["rows"] if r["model"] == "sagan"]
    ci = stats.ttest_ind(values[0], values[1], equal_var=False).confidence_interval(0.95)
    assert (fid["ci95_low"], fid["ci95_high"]) == (pytest.approx(ci.low), pytest.approx(ci.high))
    assert "HEAD · sagan − lr-g-high · sagan | fid |" in (repo / "cmp.md").read_text()
    missing = subprocess.run([sys.executable, "-m", "ganlab.compare", "no-such-exp"], cwd=repo, env=env(),
                             capture_output=True, text=True)  # fmt: skip
    assert missing.returncode == 2 and "no-such-exp: no such experiment or revision" in missing.stderr


def test_a_study_runs_as_experiments_side_by_side_and_resumes(repo):
    run(repo, "git", "checkout", "--", "params.yaml")  # the experiment above left its params here
    (repo / "studies").mkdir(exist_ok=True)
    (repo / "studies/tiny.yaml").write_text(
        "seeds: [0, 1]\ntarget: summarize\narms:\n  fast-d: {sagan: {lr_d: 1.0e-3}}\n"
    )
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-qm", "a study")
    out = run(repo, sys.executable, "-m", "ganlab.study", "studies/tiny.yaml", "--jobs", "2")
    assert "train@sagan-0: python stages/train.py" in out and "train@sagan-1: python stages/train.py" in out
    # trained once, side by side: DVC's own train stages find the runs done and keep them
    assert out.count("sagan: already trained to iteration 4") == 2 and "resuming from" in out
    wt = repo / "runs/studies/tiny/fast-d"
    assert (wt / "runs/logs/train@sagan-1.log").is_file() and "tiny-fast-d" in run(repo, "dvc", "exp", "list")
    assert "tiny-fast-d · sagan" in (repo / "studies/tiny/compare.md").read_text()
    assert (repo / "studies/tiny/fast-d/fid.png").is_file()
    again = run(repo, sys.executable, "-m", "ganlab.study", "studies/tiny.yaml")
    assert "tiny-fast-d: done (nothing to reproduce)" in again
