"""The whole DVC workflow in a temporary git repo, on synthetic CIFAR-10 with tiny params."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from ganlab.io import load_checkpoint
from tests.conftest import REPO, assert_same_history, kill_when, tiny_params, write_cifar10

pytestmark = pytest.mark.slow


def _env() -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"  # `python`/`dvc` of this venv
    env["OMP_NUM_THREADS"] = "1"  # identical CPU reductions across the runs compared below
    for key in ("AUTHOR", "COMMITTER"):
        env[f"GIT_{key}_NAME"], env[f"GIT_{key}_EMAIL"] = "ganlab test", "test@ganlab.invalid"
    env["DVC_NO_ANALYTICS"] = "1"
    return env


def _run(repo: Path, *args: str) -> str:
    result = subprocess.run(args, cwd=repo, env=_env(), capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout + result.stderr


def _ran(output: str) -> set[str]:
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage '")}


def _write_params(repo: Path, **overrides) -> None:
    p = tiny_params(**overrides)
    (repo / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))


def make_repo(repo: Path, **params) -> Path:
    """A git repo holding this checkout's tracked files, with tiny params and `params` on top."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                           text=True, check=True).stdout.split()  # fmt: skip
    for name in files:
        if (REPO / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, repo / name)
    _write_params(repo, **params)
    _run(repo, "git", "init", "-q", "-b", "main")
    _run(repo, "git", "add", "-A")
    _run(repo, "git", "commit", "-qm", "baseline")
    return repo


def _cifar_params(cifar: Path, **overrides) -> dict:
    """Synthetic CIFAR-10 for dcgan and sagan, and its cats -> dogs for cyclegan."""
    return {"data.source": str(cifar), "data.verify": False, "fid.n_samples": 8, "fid.batch_size": 8,
            "cyclegan.domain_a": "cifar10:cat", "cyclegan.domain_b": "cifar10:dog", "cyclegan.source": str(cifar),
            **overrides}  # fmt: skip


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pipeline")
    write_cifar10(root / "cifar", per_batch=20)  # 20 test images: 2 per class for per-class FID
    return make_repo(root / "repo", **_cifar_params(root / "cifar", **{"sagan.lr_d": 2e-4}))


def test_repro_produces_every_output(repo):
    out = _run(repo, "dvc", "repro")
    assert _ran(out) == NOISE_STAGES | CYCLEGAN_STAGES
    for path in [
        "data/prepared/train/images.npy", "data/prepared/test/meta.json", "data/prepared/bad_files.txt",
        "data/fid/stats.npz", "data/fid/reference_features.npz", "data/fid/floor_features.npz", "metrics/report.json",
        "models/dcgan/checkpoints/iter_000002.pt", "models/sagan/checkpoints/iter_000004.pt", "models/sagan/last.pt",
        "metrics/dcgan/live/metrics.json", "metrics/sagan/live/plots/metrics/loss_d.tsv",
        "metrics/sagan/live/plots/images/samples/4.png", "metrics/cyclegan/live/plots/metrics/loss_cycle.tsv",
        "metrics/sagan/fid.csv", "metrics/sagan/fid_cache.json", "metrics/best.json",
        "models/best/dcgan.pt", "models/best/sagan.pt", "plots/dcgan_samples.png", "plots/sagan_samples.png",
        "plots/sagan_classes.png", "plots/fid.png", "plots/kid.png", "plots/dcgan_loss.png", "plots/sagan_loss.png",
        "plots/sagan_interpolation.png", "plots/dcgan_progress.png", "plots/sagan_progress.png",
        "data/cyclegan/a/train/images.npy", "data/cyclegan/fid/b.npz", "models/cyclegan/checkpoints/iter_000004.pt",
        "metrics/cyclegan/fid.csv", "metrics/cyclegan/best.json", "metrics/cyclegan/report.json",
        "models/cyclegan_best.pt", "plots/cyclegan_a2b.png", "plots/cyclegan_progress.png", "plots/cyclegan_curves.png",
    ]:  # fmt: skip
        assert (repo / path).is_file(), path
    best = json.loads((repo / "metrics/best.json").read_text())
    assert set(best) == {"protocol", "dcgan", "sagan"} and best["sagan"]["iteration"] in (2, 4)
    assert best["protocol"]["description"] == "FID, 8 generated vs the 20 test images, pytorch-fid Inception"
    report = json.loads((repo / "metrics/report.json").read_text())
    assert report["protocol"]["description"] == "FID, 20 generated vs the 20 test images, pytorch-fid Inception"
    assert report["protocol"]["latent_seed"] == 1 and len(report["protocol"]["code_sha256"]) == 64
    sagan = report["sagan"]
    assert sagan["iteration"] == best["sagan"]["iteration"] and sagan["curve_fid"] == best["sagan"]["fid"]
    assert {"fid", "kid", "intra_fid", "per_class_fid"} <= set(sagan) and set(sagan["kid"]) >= {"mean", "std"}
    assert len(sagan["per_class_fid"]) == 10 and "per_class_fid" not in report["dcgan"]
    assert report["floor"]["n_samples"] == 20
    assert "Data and pipelines are up to date" in _run(repo, "dvc", "status")
    # The outputs stay out of git (the repo already holds the .gitignore files DVC maintains).
    assert _run(repo, "git", "status", "--porcelain", "--untracked-files=all").strip() == "?? dvc.lock"
    _run(repo, "git", "add", "-A")
    _run(repo, "git", "commit", "-qm", "baseline results")


def test_outputs_do_not_change_with_git_head_alone(repo):
    """The protocol records the code the stage ran, not HEAD: a commit touching no dependency
    leaves a forced select byte-identical, and nothing downstream goes stale."""
    names = ("metrics/best.json", "metrics/report.json", "metrics/cyclegan/best.json", "metrics/cyclegan/report.json")
    before = {name: (repo / name).read_bytes() for name in names}
    with open(repo / "README.md", "a") as f:
        f.write("\nA line no stage depends on.\n")
    _run(repo, "git", "commit", "-qam", "docs only")
    for stage in ("select", "select_cyclegan"):
        assert _ran(_run(repo, "dvc", "repro", "-f", "-s", stage)) == {stage}
    assert {name: (repo / name).read_bytes() for name in names} == before
    assert "Data and pipelines are up to date" in _run(repo, "dvc", "status")
    assert _run(repo, "git", "status", "--porcelain").strip() == ""


def test_training_metrics_are_shown_with_the_experiment(repo):
    """DVCLive's summary is each train stage's metrics file, its history the stage's plots."""
    rows = json.loads(_run(repo, "dvc", "exp", "show", "--json"))
    workspace = next(r for r in rows if r["rev"] == "workspace")["data"]["metrics"]
    for model, last in (("dcgan", 4), ("sagan", 4), ("cyclegan", 4)):
        summary = workspace[f"metrics/{model}/live/metrics.json"]["data"]
        assert summary["step"] == last and {"loss_d", "loss_g", "lr_g", "it_per_s"} <= set(summary)
    shown = _run(repo, "dvc", "plots", "show", "--json")
    for path in ("metrics/dcgan/live/plots/metrics/loss_d.tsv", "metrics/cyclegan/live/plots/metrics/loss_cycle.tsv",
                 "metrics/sagan/live/plots/images/samples/2.png", "dcgan losses"):  # fmt: skip
        assert path in shown, path


def test_experiment_reruns_only_sagan_and_is_compared(repo):
    baseline_fid = (repo / "metrics/sagan/fid.csv").read_text()
    out = _run(repo, "dvc", "exp", "run", "-n", "lr-d-4e-4", "-S", "sagan.lr_d=4e-4")
    assert _ran(out) == {"train@sagan", "fid@sagan", "select", "report", "render"}
    exp_fid = (repo / "metrics/sagan/fid.csv").read_text()
    assert exp_fid != baseline_fid

    shown = json.loads(_run(repo, "dvc", "exp", "show", "--json"))
    text = json.dumps(shown)
    assert "lr-d-4e-4" in text
    best = json.loads((repo / "metrics/best.json").read_text())
    assert str(best["sagan"]["fid"])[:8] in text and str(best["dcgan"]["fid"])[:8] in text

    _run(repo, "dvc", "plots", "diff", "HEAD", "--out", "plots_html")
    html = (repo / "plots_html/index.html").read_text()
    for csv_text in (baseline_fid, exp_fid):
        value = csv_text.splitlines()[1].split(",")[1]  # first FID value of each revision
        assert value[:10] in html
    assert "HEAD" in html and "workspace" in html


def test_cycle_loss_weight_reruns_only_the_cyclegan_stages(repo):
    before = {m: (repo / f"metrics/{m}/fid.csv").read_text() for m in ("dcgan", "sagan")}
    out = _run(repo, "dvc", "exp", "run", "-n", "no-cycle", "-S", "cyclegan.lambda_cycle=0")
    assert _ran(out) == CYCLEGAN_STAGES - {"prepare_cyclegan", "reference_cyclegan"}
    assert {m: (repo / f"metrics/{m}/fid.csv").read_text() for m in ("dcgan", "sagan")} == before
    report = json.loads((repo / "metrics/cyclegan/report.json").read_text())
    # cifar10:cat -> cifar10:dog pairs nothing (image indices say nothing across classes)
    assert "paired" not in report["cyclegan"]["ab"] and report["protocol"]["reference_size"] == {"a": 2, "b": 2}
    shown = json.dumps(json.loads(_run(repo, "dvc", "exp", "show", "--json")))
    assert "no-cycle" in shown and str(report["cyclegan"]["ab"]["fid"])[:8] in shown


def test_report_params_rerun_only_report(repo):
    before = {m: (repo / f"metrics/{m}/fid.csv").read_text() for m in ("dcgan", "sagan")}
    out = _run(repo, "dvc", "exp", "run", "-n", "report-n-30", "-S", "report.n_samples=30")
    assert _ran(out) == {"report"}
    assert {m: (repo / f"metrics/{m}/fid.csv").read_text() for m in ("dcgan", "sagan")} == before
    report = json.loads((repo / "metrics/report.json").read_text())
    assert report["protocol"]["n_samples"] == 30
    shown = json.dumps(json.loads(_run(repo, "dvc", "exp", "show", "--json")))
    assert "report-n-30" in shown and "report.json" in shown
    for model in ("dcgan", "sagan"):
        assert str(report[model]["fid"])[:8] in shown and str(report[model]["kid"]["mean"])[:8] in shown
    assert str(report["sagan"]["intra_fid"])[:8] in shown


def _snapshot_weights(folder: Path) -> dict:
    return {p.name: load_checkpoint(p)["generator"] for p in sorted(folder.glob("iter_*.pt"))}


def test_killed_repro_resumes_to_the_same_checkpoints(repo, tmp_path):
    _run(repo, "dvc", "exp", "apply", "lr-d-4e-4")
    cifar = Path(yaml.safe_load((repo / "params.yaml").read_text())["data"]["source"])
    _write_params(repo, **_cifar_params(cifar, **{"sagan.iterations": 60, "sagan.ckpt_every": 6}))
    folder = repo / "models/sagan/checkpoints"
    kill_when(["dvc", "repro"], appears=folder / "iter_000012.pt", cwd=repo, env=_env())
    assert not (folder / "iter_000060.pt").exists(), "training finished before the kill"

    # dvc may leave its lock behind after SIGKILL; the second repro must still go through.
    out = _run(repo, "dvc", "repro")
    assert "resuming from models/sagan/last.pt" in out
    assert "train@dcgan" not in _ran(out)

    # The same training run, uninterrupted, outside DVC.
    _run(repo, "python", "stages/train.py", "--model", "sagan", "--data", "data/prepared/train",
         "--out", str(tmp_path / "straight"), "--live", str(tmp_path / "live"))  # fmt: skip
    resumed, straight = _snapshot_weights(folder), _snapshot_weights(tmp_path / "straight/checkpoints")
    assert list(resumed) == [f"iter_{i:06d}.pt" for i in range(6, 61, 6)] == list(straight)
    for name in resumed:
        for key, value in resumed[name].items():
            assert torch.equal(value, straight[name][key]), f"{name}: {key}"
    assert len((repo / "metrics/sagan/fid.csv").read_text().splitlines()) == 11
    assert_same_history(repo / "metrics/sagan/live", tmp_path / "live", steps=list(range(1, 61)))


def test_a_running_experiment_shows_its_training_metrics(tmp_path):
    """While `dvc exp run` trains, `dvc exp show` lists the training metrics, and they advance."""
    write_cifar10(tmp_path / "cifar", per_batch=20)
    params = _cifar_params(tmp_path / "cifar", **{"dcgan.iterations": 10**6, "dcgan.log_every": 5})
    repo = make_repo(tmp_path / "repo", **params)
    run = subprocess.Popen(["dvc", "exp", "run", "train@dcgan"], cwd=repo, env=_env(), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    steps, deadline = [], time.time() + 300
    try:
        while len(set(steps)) < 2:
            assert run.poll() is None, "the run ended before it was seen training"
            assert time.time() < deadline, f"no advancing training metrics in `dvc exp show` (saw steps {steps})"
            rows = json.loads(_run(repo, "dvc", "exp", "show", "--json"))
            metrics = next(r for r in rows if r["rev"] == "workspace")["data"].get("metrics") or {}
            summary = metrics.get("metrics/dcgan/live/metrics.json", {}).get("data")
            if summary:
                assert {"loss_d", "loss_g", "d_real", "d_fake", "lr_g", "lr_d", "it_per_s"} <= set(summary)
                steps.append(summary["step"])
            time.sleep(0.5)
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
    assert 0 < steps[0] < steps[-1]


def test_the_whole_pipeline_runs_as_an_experiment_on_two_processes(tmp_path):
    """`dvc exp run -S distributed.nproc_per_node=2` from scratch: train, fid and report run as
    2 torchrun workers (gloo on the CPU) and every stage completes."""
    write_cifar10(tmp_path / "cifar", per_batch=20)
    repo = make_repo(tmp_path / "repo", **_cifar_params(tmp_path / "cifar"))
    out = _run(repo, "dvc", "exp", "run", "-n", "two-procs", "-S", "distributed.nproc_per_node=2")
    assert _ran(out) == NOISE_STAGES | CYCLEGAN_STAGES
    # train@dcgan, train@sagan, train_cyclegan, fid@dcgan, fid@sagan and report, each once
    assert out.count("torchrun: 2 processes (gloo)") == 6
    report = json.loads((repo / "metrics/report.json").read_text())
    assert report["protocol"]["world_size"] == 2 and report["sagan"]["fid"] > 0
    for model in ("dcgan", "sagan", "cyclegan"):
        assert load_checkpoint(repo / f"models/{model}/last.pt")["iteration"] == 4
    assert "two-procs" in json.dumps(json.loads(_run(repo, "dvc", "exp", "show", "--json")))


NOISE_STAGES = {"prepare", "train@dcgan", "train@sagan", "fid_reference", "fid@dcgan", "fid@sagan", "select",
                "report", "render"}  # fmt: skip
CYCLEGAN_STAGES = {"prepare_cyclegan", "train_cyclegan", "reference_cyclegan", "fid_cyclegan", "select_cyclegan",
                   "report_cyclegan", "render_cyclegan"}  # fmt: skip


@pytest.mark.parametrize(
    "resolution, layout",
    [(32, {"cats": 10, "dogs": 8, "owls": 6}), (64, {"": 24}), (128, {"cats": 10, "dogs": 10})],
    ids=["32px-classes", "64px-flat", "128px-classes"],
)
def test_an_image_folder_trains_both_models_end_to_end(tmp_path, resolution, layout):
    """PNG images (RGB, RGBA, greyscale) and a JPEG, with and without class subfolders, through
    `dvc repro`: both models train at the folder's resolution and every stage runs."""
    from PIL import Image

    from tests.conftest import write_image_folder

    write_image_folder(tmp_path / "photos", layout, size=50)
    first = next(p for p in sorted((tmp_path / "photos").rglob("*.png")))
    Image.open(first).convert("RGB").save(first.with_suffix(".jpg"), quality=90)
    first.unlink()
    classes = [c for c in layout if c]
    # D's 16-px block has d_ch/8 channels at 64 px (d_ch/4 at 128): attention there needs 8.
    sagan = {"sagan.d_ch": 64} if resolution > 32 else {}
    repo = make_repo(
        tmp_path / "repo", **{"data.dataset": "folder", "data.source": str(tmp_path / "photos"),
                              "data.resolution": resolution, "data.test_fraction": 0.25,
                              "sagan.conditional": bool(classes), "fid.n_samples": 8, "fid.batch_size": 8,
                              "report.n_samples": 12, **sagan},
    )  # fmt: skip
    out = _run(repo, "dvc", "repro", "render", "report")  # the noise models' stages only
    assert _ran(out) == NOISE_STAGES
    for model in ("dcgan", "sagan"):
        snap = load_checkpoint(repo / f"models/{model}/checkpoints/iter_000004.pt")
        assert snap["image_shape"] == [3, resolution, resolution] and snap["classes"] == classes
    report = json.loads((repo / "metrics/report.json").read_text())
    assert report["protocol"]["headline"] == "kid"  # a handful of reference images: KID leads
    assert list(report["sagan"])[:3] == ["iteration", "precision", "kid"]
    assert ("per_class_fid" in report["sagan"]) == bool(classes)
    for name in ("sagan_classes.png", "sagan_interpolation.png", "dcgan_samples.png", "fid.png"):
        assert (repo / "plots" / name).is_file(), name
    assert "Data and pipelines are up to date" in _run(repo, "dvc", "status", "--with-deps", "render")


def test_two_image_folders_translate_end_to_end_and_resume_after_a_kill(tmp_path):
    """Paired folders (B is A's negative, same file names): the cyclegan stages train, score with
    the paired error, select, report and render through `dvc repro`, and a kill mid-training
    resumes to the weights of an uninterrupted run."""
    from tests.test_cyclegan import write_domains

    write_domains(tmp_path / "img", n=12)
    repo = make_repo(
        tmp_path / "repo", **{"cyclegan.domain_a": f"folder:{tmp_path / 'img/a'}", "data.test_fraction": 0.25,
                              "cyclegan.domain_b": f"folder:{tmp_path / 'img/b'}", "cyclegan.iterations": 30,
                              "cyclegan.ckpt_every": 5, "fid.batch_size": 8},
    )  # fmt: skip
    folder = repo / "models/cyclegan/checkpoints"
    kill_when(["dvc", "repro", "render_cyclegan"], appears=folder / "iter_000010.pt", cwd=repo, env=_env())
    assert not (folder / "iter_000030.pt").exists(), "training finished before the kill"

    out = _run(repo, "dvc", "repro", "render_cyclegan")
    assert "resuming from models/cyclegan/last.pt" in out
    # The reference may have been computed before the kill; the data is never prepared twice.
    assert CYCLEGAN_STAGES - {"prepare_cyclegan", "reference_cyclegan"} <= _ran(out) <= CYCLEGAN_STAGES
    assert "prepare_cyclegan" not in _ran(out)
    data = ["--data", "data/cyclegan/a/train", "--data", "data/cyclegan/b/train"]
    _run(repo, "python", "stages/train.py", "--model", "cyclegan", *data, "--out", str(tmp_path / "straight"),
         "--live", str(tmp_path / "live"))  # fmt: skip
    straight = {p.name: load_checkpoint(p) for p in sorted((tmp_path / "straight/checkpoints").glob("iter_*.pt"))}
    resumed = {p.name: load_checkpoint(p) for p in sorted(folder.glob("iter_*.pt"))}
    assert list(resumed) == [f"iter_{i:06d}.pt" for i in range(5, 31, 5)] == list(straight)
    for name in resumed:
        for net in ("g_ab", "g_ba"):
            for key, value in resumed[name][net].items():
                assert torch.equal(value, straight[name][net][key]), f"{name}: {net}.{key}"

    report = json.loads((repo / "metrics/cyclegan/report.json").read_text())
    best = json.loads((repo / "metrics/cyclegan/best.json").read_text())
    assert report["cyclegan"]["iteration"] == best["cyclegan"]["iteration"]
    for direction in ("ab", "ba"):
        paired = report["cyclegan"][direction]["paired"]
        assert paired["n_pairs"] == 3 and paired["identity"]["mae"] > 0
    assert len((repo / "metrics/cyclegan/fid.csv").read_text().splitlines()) == 7
    for name in ("cyclegan_a2b.png", "cyclegan_b2a.png", "cyclegan_progress.png", "cyclegan_curves.png",
                 "cyclegan_loss.png"):  # fmt: skip
        assert (repo / "plots" / name).is_file(), name
    assert "Data and pipelines are up to date" in _run(repo, "dvc", "status", "--with-deps", "render_cyclegan")
