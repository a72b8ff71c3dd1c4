"""End-to-end DVC runs that each need a repo of their own: a live experiment, two processes,
image folders and a CycleGAN pair. Apart from test_pipeline.py so that xdist can run the two
files side by side."""

import json
import os
import signal
import subprocess
import time

import pytest
import torch

from ganlab.io import load_checkpoint
from tests.conftest import kill_when, write_cifar10
from tests.dvc_repo import CYCLEGAN_STAGES, NOISE_STAGES, cifar_params, env, make_repo, ran, run

pytestmark = pytest.mark.slow


def test_a_running_experiment_shows_its_training_metrics(tmp_path):
    """While `dvc exp run` trains, `dvc exp show` lists the training metrics, and they advance."""
    write_cifar10(tmp_path / "cifar", per_batch=20)
    # Every checkpoint on a log step: a checkpoint before the first log would write a
    # metrics.json holding only its step (its preview has a step, no metrics yet).
    live = {"dcgan.iterations": 10**6, "dcgan.log_every": 5, "dcgan.ckpt_every": 10}
    params = cifar_params(tmp_path / "cifar", **live)
    repo = make_repo(tmp_path / "repo", **params)
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    experiment = subprocess.Popen(["dvc", "exp", "run", "train@dcgan-0"], cwd=repo, env=env(), **quiet,
                                  start_new_session=True)  # fmt: skip
    steps, deadline = [], time.time() + 300
    try:
        while len(set(steps)) < 2:
            assert experiment.poll() is None, "the run ended before it was seen training"
            assert time.time() < deadline, f"no advancing training metrics in `dvc exp show` (saw steps {steps})"
            rows = json.loads(run(repo, "dvc", "exp", "show", "--json"))
            metrics = next(r for r in rows if r["rev"] == "workspace")["data"].get("metrics") or {}
            summary = metrics.get("metrics/seeds/0/dcgan/live/metrics.json", {}).get("data")
            if summary:
                assert {"loss_d", "loss_g", "d_real", "d_fake", "lr_g", "lr_d", "it_per_s"} <= set(summary)
                steps.append(summary["step"])
            time.sleep(0.5)
    finally:
        os.killpg(experiment.pid, signal.SIGKILL)
        experiment.wait()
    assert 0 < steps[0] < steps[-1]


def test_the_whole_pipeline_runs_as_an_experiment_on_two_processes(tmp_path):
    """`dvc exp run -S distributed.nproc_per_node=2` from scratch: train, fid and report run as
    2 torchrun workers (gloo on the CPU) and every stage completes."""
    write_cifar10(tmp_path / "cifar", per_batch=20)
    repo = make_repo(tmp_path / "repo", **cifar_params(tmp_path / "cifar"))
    out = run(repo, "dvc", "exp", "run", "-n", "two-procs", "-S", "distributed.nproc_per_node=2")
    assert ran(out) == NOISE_STAGES | CYCLEGAN_STAGES
    # train@dcgan, train@sagan, train_cyclegan, fid@dcgan, fid@sagan and report, each once
    assert out.count("torchrun: 2 processes (gloo)") == 6
    report = json.loads((repo / "metrics/seeds/0/report.json").read_text())
    assert report["protocol"]["world_size"] == 2 and report["sagan"]["fid"] > 0
    for run_dir in ("models/seeds/0/dcgan", "models/seeds/0/sagan", "models/cyclegan/seeds/0"):
        assert load_checkpoint(repo / run_dir / "last.pt")["iteration"] == 4
    assert "two-procs" in json.dumps(json.loads(run(repo, "dvc", "exp", "show", "--json")))


@pytest.mark.parametrize(
    "resolution, layout",
    [(32, {"cats": 10, "dogs": 8, "owls": 6}), (128, {"": 20})],
    ids=["32px-classes", "128px-flat"],
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
    out = run(repo, "dvc", "repro", "render", "summarize")  # the noise models' stages only
    assert ran(out) == NOISE_STAGES
    for model in ("dcgan", "sagan"):
        snap = load_checkpoint(repo / f"models/seeds/0/{model}/checkpoints/iter_000004.pt")
        assert snap["image_shape"] == [3, resolution, resolution] and snap["classes"] == classes
    report = json.loads((repo / "metrics/seeds/0/report.json").read_text())
    assert report["protocol"]["headline"] == "kid"  # a handful of reference images: KID leads
    assert list(report["sagan"])[:3] == ["iteration", "precision", "kid"]
    assert ("per_class_fid" in report["sagan"]) == bool(classes)
    for name in ("sagan_classes.png", "sagan_interpolation.png", "dcgan_samples.png", "fid.png"):
        assert (repo / "plots/seeds/0" / name).is_file(), name
    assert "Data and pipelines are up to date" in run(repo, "dvc", "status", "--with-deps", "render")


def test_two_image_folders_translate_end_to_end_and_resume_after_a_kill(tmp_path):
    """Paired folders (B is A's negative, same file names): the cyclegan stages train, score with
    the paired error, select, report and render through `dvc repro`, and a kill mid-training
    resumes to the weights of an uninterrupted run."""
    from tests.conftest import write_domains

    write_domains(tmp_path / "img", n=12)
    repo = make_repo(
        tmp_path / "repo", **{"cyclegan.source": str(tmp_path / "img"), "cyclegan.domain_a": "folder:a",
                              "data.test_fraction": 0.25, "cyclegan.domain_b": "folder:b", "cyclegan.iterations": 30,
                              "cyclegan.ckpt_every": 5, "fid.batch_size": 8},
    )  # fmt: skip
    folder = repo / "models/cyclegan/seeds/0/checkpoints"
    kill_when(["dvc", "repro", "render_cyclegan"], appears=folder / "iter_000010.pt", cwd=repo, env=env())
    assert not (folder / "iter_000030.pt").exists(), "training finished before the kill"

    out = run(repo, "dvc", "repro", "render_cyclegan")
    assert "resuming from models/cyclegan/seeds/0/last.pt" in out
    # The reference may have been computed before the kill; the data is never prepared twice.
    assert CYCLEGAN_STAGES - {"prepare_cyclegan", "reference_cyclegan", "summarize_cyclegan"} <= ran(out)
    assert ran(out) <= CYCLEGAN_STAGES
    assert "prepare_cyclegan" not in ran(out)
    data = ["--data", "data/cyclegan/a/train", "--data", "data/cyclegan/b/train"]
    run(repo, "python", "stages/train.py", "--model", "cyclegan", "--seed", "0", *data,
        "--out", str(tmp_path / "straight"), "--live", str(tmp_path / "live"))  # fmt: skip
    straight = {p.name: load_checkpoint(p) for p in sorted((tmp_path / "straight/checkpoints").glob("iter_*.pt"))}
    resumed = {p.name: load_checkpoint(p) for p in sorted(folder.glob("iter_*.pt"))}
    assert list(resumed) == [f"iter_{i:06d}.pt" for i in range(5, 31, 5)] == list(straight)
    for name in resumed:
        for net in ("g_ab", "g_ba"):
            for key, value in resumed[name][net].items():
                assert torch.equal(value, straight[name][net][key]), f"{name}: {net}.{key}"

    report = json.loads((repo / "metrics/cyclegan/seeds/0/report.json").read_text())
    best = json.loads((repo / "metrics/cyclegan/seeds/0/best.json").read_text())
    assert report["cyclegan"]["iteration"] == best["cyclegan"]["iteration"]
    for direction in ("ab", "ba"):
        paired = report["cyclegan"][direction]["paired"]
        assert paired["n_pairs"] == 3 and paired["identity"]["mae"] > 0
    assert len((repo / "metrics/cyclegan/seeds/0/fid.csv").read_text().splitlines()) == 7
    for name in ("a2b.png", "b2a.png", "progress.png", "curves.png", "loss.png"):
        assert (repo / "plots/cyclegan/seeds/0" / name).is_file(), name
    assert "Data and pipelines are up to date" in run(repo, "dvc", "status", "--with-deps", "render_cyclegan")
