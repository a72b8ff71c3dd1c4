"""The whole DVC workflow in one temporary git repo, on synthetic CIFAR-10 with tiny params: the
tests share the repo and run in order."""

import json
from pathlib import Path

import pytest
import torch
import yaml

from ganlab.io import load_checkpoint
from tests.conftest import assert_same_history, kill_when, write_cifar10
from tests.dvc_repo import CYCLEGAN_STAGES, NOISE_STAGES, cifar_params, env, make_repo, ran, run, write_params

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pipeline")
    write_cifar10(root / "cifar", per_batch=20)  # 20 test images: 2 per class for per-class FID
    return make_repo(root / "repo", **cifar_params(root / "cifar", **{"sagan.lr_d": 2e-4}))


def test_repro_produces_every_output(repo):
    out = run(repo, "dvc", "repro")
    assert ran(out) == NOISE_STAGES | CYCLEGAN_STAGES
    for path in [
        "data/prepared/train/images.npy", "data/prepared/test/meta.json", "data/prepared/bad_files.txt",
        "data/fid/stats.npz", "data/fid/reference_features.npz", "data/fid/floor_features.npz",
        "models/seeds/0/dcgan/checkpoints/iter_000002.pt", "models/seeds/0/sagan/checkpoints/iter_000004.pt",
        "models/seeds/0/sagan/last.pt", "metrics/seeds/0/dcgan/live/metrics.json",
        "metrics/seeds/0/sagan/live/plots/metrics/loss_d.tsv", "metrics/seeds/0/sagan/live/plots/images/samples/4.png",
        "metrics/cyclegan/seeds/0/live/plots/metrics/loss_cycle.tsv", "metrics/seeds/0/sagan/fid.csv",
        "metrics/seeds/0/sagan/fid_cache.json", "metrics/seeds/0/best.json", "metrics/seeds/0/report.json",
        "models/seeds/0/best/dcgan.pt", "models/seeds/0/best/sagan.pt", "plots/seeds/0/dcgan_samples.png",
        "plots/seeds/0/sagan_samples.png", "plots/seeds/0/sagan_classes.png", "plots/seeds/0/fid.png",
        "plots/seeds/0/kid.png", "plots/seeds/0/dcgan_loss.png", "plots/seeds/0/sagan_loss.png",
        "plots/seeds/0/sagan_interpolation.png", "plots/seeds/0/dcgan_progress.png", "plots/seeds/0/sagan_progress.png",
        "metrics/summary.json", "metrics/curves/fid.csv", "metrics/curves/coverage.csv", "plots/fid.png",
        "plots/kid.png", "plots/prdc.png",
        "data/cyclegan/a/train/images.npy", "data/cyclegan/fid/b.npz",
        "models/cyclegan/seeds/0/checkpoints/iter_000004.pt", "metrics/cyclegan/seeds/0/fid.csv",
        "metrics/cyclegan/seeds/0/best.json", "metrics/cyclegan/seeds/0/report.json", "models/cyclegan/best/0.pt",
        "plots/cyclegan/seeds/0/a2b.png", "plots/cyclegan/seeds/0/progress.png", "plots/cyclegan/seeds/0/curves.png",
        "metrics/cyclegan/summary.json", "metrics/cyclegan/curves/kid_ab.csv", "plots/cyclegan/curves.png",
    ]:  # fmt: skip
        assert (repo / path).is_file(), path
    best = json.loads((repo / "metrics/seeds/0/best.json").read_text())
    assert set(best) == {"protocol", "dcgan", "sagan"} and best["sagan"]["iteration"] in (2, 4)
    assert best["protocol"]["description"] == "FID, 8 generated vs the 20 test images, pytorch-fid Inception"
    report = json.loads((repo / "metrics/seeds/0/report.json").read_text())
    assert report["protocol"]["description"] == "FID, 20 generated vs the 20 test images, pytorch-fid Inception"
    assert report["protocol"]["latent_seed"] == 1 and len(report["protocol"]["code_sha256"]) == 64
    # `seeds: [0]` is the single run it always was: weights and data order from 0, curve latents 0,
    # the report's latents 1 (RunSeeds)
    assert best["protocol"]["latent_seed"] == 0 and report["seed"] == 0
    assert load_checkpoint(repo / "models/seeds/0/best/sagan.pt")["config"]["seed"] == 0
    sagan = report["sagan"]
    assert sagan["iteration"] == best["sagan"]["iteration"] and sagan["curve_fid"] == best["sagan"]["fid"]
    assert {"fid", "kid", "intra_fid", "per_class_fid"} <= set(sagan) and set(sagan["kid"]) >= {"mean", "std"}
    assert len(sagan["per_class_fid"]) == 10 and "per_class_fid" not in report["dcgan"]
    assert report["floor"]["n_samples"] == 20
    assert "Data and pipelines are up to date" in run(repo, "dvc", "status")
    # The outputs stay out of git (the repo already holds the .gitignore files DVC maintains).
    assert run(repo, "git", "status", "--porcelain", "--untracked-files=all").strip() == "?? dvc.lock"
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-qm", "baseline results")


def test_outputs_do_not_change_with_git_head_alone(repo):
    """The protocol records the code the stage ran, not HEAD: a commit touching no dependency
    leaves a forced select byte-identical, and nothing downstream goes stale."""
    names = ("metrics/seeds/0/best.json", "metrics/seeds/0/report.json", "metrics/cyclegan/seeds/0/best.json",
             "metrics/cyclegan/seeds/0/report.json", "metrics/summary.json")  # fmt: skip
    before = {name: (repo / name).read_bytes() for name in names}
    with open(repo / "README.md", "a") as f:
        f.write("\nA line no stage depends on.\n")
    run(repo, "git", "commit", "-qam", "docs only")
    for stage in ("select@0", "select_cyclegan@0"):
        assert ran(run(repo, "dvc", "repro", "-f", "-s", stage)) == {stage}
    assert {name: (repo / name).read_bytes() for name in names} == before
    assert "Data and pipelines are up to date" in run(repo, "dvc", "status")
    assert run(repo, "git", "status", "--porcelain").strip() == ""


def test_training_metrics_are_shown_with_the_experiment(repo):
    """DVCLive's summary is each train stage's metrics file, its history the stage's plots."""
    rows = json.loads(run(repo, "dvc", "exp", "show", "--json"))
    workspace = next(r for r in rows if r["rev"] == "workspace")["data"]["metrics"]
    for path in ("metrics/seeds/0/dcgan", "metrics/seeds/0/sagan", "metrics/cyclegan/seeds/0"):
        summary = workspace[f"{path}/live/metrics.json"]["data"]
        assert summary["step"] == 4 and {"loss_d", "loss_g", "lr_g", "it_per_s"} <= set(summary)
    shown = run(repo, "dvc", "plots", "show", "--json")
    for path in ("metrics/seeds/0/dcgan/live/plots/metrics/loss_d.tsv",
                 "metrics/cyclegan/seeds/0/live/plots/metrics/loss_cycle.tsv",
                 "metrics/seeds/0/sagan/live/plots/images/samples/2.png", "FID over seeds"):  # fmt: skip
        assert path in shown, path


def test_experiment_reruns_only_sagan_and_is_compared(repo):
    baseline_fid = (repo / "metrics/seeds/0/sagan/fid.csv").read_text()
    out = run(repo, "dvc", "exp", "run", "-n", "lr-d-4e-4", "-S", "sagan.lr_d=4e-4")
    assert ran(out) == {"train@sagan-0", "fid@sagan-0", "select@0", "report@0", "render@0", "summarize"}
    exp_fid = (repo / "metrics/seeds/0/sagan/fid.csv").read_text()

    def scores(text):  # every column but the timing, which differs between any two runs
        rows = [line.split(",") for line in text.splitlines()]
        keep = [i for i, name in enumerate(rows[0]) if name != "seconds"]
        return [[row[i] for i in keep] for row in rows[1:]]

    assert scores(exp_fid) != scores(baseline_fid)  # the new lr_d trained another model
    assert [r[0] for r in scores(exp_fid)] == [r[0] for r in scores(baseline_fid)]  # at the same checkpoints

    shown = json.loads(run(repo, "dvc", "exp", "show", "--json"))
    text = json.dumps(shown)
    assert "lr-d-4e-4" in text
    summary = json.loads((repo / "metrics/summary.json").read_text())
    assert str(summary["sagan"]["best_fid"]["mean"])[:8] in text and str(summary["dcgan"]["fid"]["mean"])[:8] in text

    run(repo, "dvc", "plots", "diff", "HEAD", "--out", "plots_html")
    html = (repo / "plots_html/index.html").read_text()
    for csv_text in (baseline_fid, exp_fid):
        value = float(csv_text.splitlines()[1].split(",")[1])  # first FID value of each revision
        assert f"{value:.6g}" in html  # in metrics/curves/fid.csv, drawn by the band template
    assert "HEAD" in html and "workspace" in html and "ci95_low" in html


def test_cut_experiment_reruns_only_the_translation_stages(repo):
    """`-S cyclegan.model=cut`: CUT trains, scores, reports, renders and summarizes through the
    same stages as the CycleGAN, and nothing else re-runs."""
    before = {m: (repo / f"metrics/seeds/0/{m}/fid.csv").read_text() for m in ("dcgan", "sagan")}
    out = run(repo, "dvc", "exp", "run", "-n", "cut", "-S", "cyclegan.model=cut")
    assert ran(out) == CYCLEGAN_STAGES - {"prepare_cyclegan", "reference_cyclegan"}
    assert {m: (repo / f"metrics/seeds/0/{m}/fid.csv").read_text() for m in ("dcgan", "sagan")} == before
    assert (repo / "metrics/cyclegan/seeds/0/live/plots/metrics/loss_nce.tsv").exists()
    assert not (repo / "metrics/cyclegan/seeds/0/live/plots/metrics/loss_cycle.tsv").exists()
    assert "head_ab" in load_checkpoint(repo / "models/cyclegan/seeds/0/last.pt")
    report = json.loads((repo / "metrics/cyclegan/seeds/0/report.json").read_text())
    # cifar10:cat -> cifar10:dog pairs nothing (image indices say nothing across classes)
    assert "paired" not in report["cyclegan"]["ab"] and report["protocol"]["reference_size"] == {"a": 2, "b": 2}
    assert (repo / "plots/cyclegan/seeds/0/a2b.png").exists()
    shown = json.dumps(json.loads(run(repo, "dvc", "exp", "show", "--json")))
    assert '"cut"' in shown and str(report["cyclegan"]["ab"]["fid"])[:8] in shown  # the summary's one value


def test_report_params_rerun_only_report(repo):
    before = {m: (repo / f"metrics/seeds/0/{m}/fid.csv").read_text() for m in ("dcgan", "sagan")}
    out = run(repo, "dvc", "exp", "run", "-n", "report-n-30", "-S", "report.n_samples=30")
    assert ran(out) == {"report@0", "summarize"}
    assert {m: (repo / f"metrics/seeds/0/{m}/fid.csv").read_text() for m in ("dcgan", "sagan")} == before
    report = json.loads((repo / "metrics/seeds/0/report.json").read_text())
    assert report["protocol"]["n_samples"] == 30
    shown = json.dumps(json.loads(run(repo, "dvc", "exp", "show", "--json")))
    assert "report-n-30" in shown and "summary.json" in shown
    for model in ("dcgan", "sagan"):  # one seed: the summary's mean is the run's value
        assert str(report[model]["fid"])[:8] in shown and str(report[model]["kid"]["mean"])[:8] in shown
    assert str(report["sagan"]["intra_fid"])[:8] in shown


def _snapshot_weights(folder: Path) -> dict:
    return {p.name: load_checkpoint(p)["generator"] for p in sorted(folder.glob("iter_*.pt"))}


def test_killed_repro_resumes_to_the_same_checkpoints(repo, tmp_path):
    run(repo, "dvc", "exp", "apply", "lr-d-4e-4")
    cifar = Path(yaml.safe_load((repo / "params.yaml").read_text())["data"]["source"])
    write_params(repo, **cifar_params(cifar, **{"sagan.iterations": 60, "sagan.ckpt_every": 6}))
    folder = repo / "models/seeds/0/sagan/checkpoints"
    kill_when(["dvc", "repro"], appears=folder / "iter_000012.pt", cwd=repo, env=env())
    assert not (folder / "iter_000060.pt").exists(), "training finished before the kill"

    # dvc may leave its lock behind after SIGKILL; the second repro must still go through.
    out = run(repo, "dvc", "repro")
    assert "resuming from models/seeds/0/sagan/last.pt" in out
    assert "train@dcgan-0" not in ran(out)

    # The same training run, uninterrupted, outside DVC.
    run(repo, "python", "stages/train.py", "--model", "sagan", "--seed", "0", "--data", "data/prepared/train",
         "--out", str(tmp_path / "straight"), "--live", str(tmp_path / "live"))  # fmt: skip
    resumed, straight = _snapshot_weights(folder), _snapshot_weights(tmp_path / "straight/checkpoints")
    # the experiment's run (4 iterations, the same lr_d) was extended, not thrown away: a new
    # ckpt_every changes what is written, not what is trained, so its snapshots 2 and 4 stay
    every_6 = [f"iter_{i:06d}.pt" for i in range(6, 61, 6)]
    assert list(resumed) == ["iter_000002.pt", "iter_000004.pt", *every_6] and list(straight) == every_6
    for name in straight:
        for key, value in resumed[name].items():
            assert torch.equal(value, straight[name][key]), f"{name}: {key}"
    assert len((repo / "metrics/seeds/0/sagan/fid.csv").read_text().splitlines()) == 13
    assert_same_history(repo / "metrics/seeds/0/sagan/live", tmp_path / "live", steps=list(range(1, 61)),
                        earlier=("2.png", "4.png"))  # fmt: skip
