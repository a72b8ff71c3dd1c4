"""torchrun on the CPU (gloo, 2 processes): the same experiment as one process, rank 0 alone
writing, restarts after a killed worker, and FID split over ranks."""

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
import torch
import yaml

from ganlab.errors import GanlabError
from ganlab.io import load_checkpoint
from tests.conftest import REPO, assert_same_history, tiny_params

pytestmark = pytest.mark.slow  # torchrun workers: minutes on a CPU

# Not bit-equal: with 2 ranks every gradient is the mean of two half-batch gradients summed by an
# all-reduce, and BatchNorm's statistics are sums of two partial sums; one process adds the same
# numbers in another order, and float addition is not associative. Adam then magnifies that
# rounding wherever a gradient is zero up to rounding: it divides by sqrt(v), so a gradient of
# 1e-9 moves a weight as far as one of 1. cSAGAN has such weights (the biases of convs that feed
# a BatchNorm, which subtracts them again, and the attention γ's early on): in fp32 they differ
# by up to lr per step between any two summation orders. So the equivalence is checked in fp64,
# where rounding (1e-16) is far below Adam's eps and cannot hide a real difference (a wrong
# slice, a missing all-reduce, per-rank BN statistics), and in fp32 on DCGAN, which has no such
# weights, through the stage command users run.
RTOL, ATOL = 1e-5, 1e-6
RTOL_FP64 = 1e-9

# Tiny models with everything that must stay in step across ranks: BN (both nets of dcgan), cBN,
# spectral norm, attention and EMA (sagan), DiffAugment, and a gradient penalty.
MODELS = {
    "dcgan": {"diffaug": "color,translation,cutout"},
    "sagan": {"ema": 0.9, "ema_start": 2, "attention_res": 16, "gp_weight": 1.0, "loss": "wasserstein"},
}


def _params(tmp_path, name, *, nproc, max_restarts=3, **overrides):
    p = tiny_params(**{f"{name}.{k}": v for k, v in {**MODELS[name], **overrides}.items()})
    p["distributed"].update(nproc_per_node=nproc, max_restarts=max_restarts)
    path = tmp_path / f"params_{name}_{nproc}.yaml"
    path.write_text(yaml.safe_dump(p))
    return path


def _train_cmd(tmp_path, name, out, params):
    return [sys.executable, str(REPO / "stages/train.py"), "--params", str(params), "--model", name,
            "--seed", "0", "--data", str(tmp_path / "train"), "--out", str(tmp_path / out / "models"),
            "--live", str(tmp_path / out / "live")]  # fmt: skip


def _env():
    return dict(os.environ, OMP_NUM_THREADS="1")


def _weights(path):
    state = load_checkpoint(path)
    return {k: v for k, v in state.items() if k in ("generator", "discriminator", "generator_ema")}


def _assert_close(a, b, rtol=RTOL, atol=ATOL):
    assert set(a) == set(b)
    for part in a:
        assert set(a[part]) == set(b[part]), part  # no `module.` prefixes
        for key in a[part]:
            torch.testing.assert_close(
                a[part][key], b[part][key], rtol=rtol, atol=atol, msg=lambda m, k=f"{part}.{key}": f"{k}: {m}"
            )


TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]


@pytest.mark.parametrize("name", ["dcgan", "sagan"])
def test_two_processes_train_the_weights_of_one_in_fp64(prepared, tmp_path, name):
    params = _params(tmp_path, name, nproc=1, iterations=6, ckpt_every=3, log_every=2)
    worker = [str(REPO / "tests/dist_worker.py"), str(params), name, str(tmp_path / "train")]
    subprocess.run([sys.executable, *worker, str(tmp_path / "p1")], check=True, env=_env(), capture_output=True)
    subprocess.run([*TORCHRUN, *worker, str(tmp_path / "p2")], check=True, env=_env(), capture_output=True)
    one, two = (_weights(tmp_path / f"{run}/models/last.pt") for run in ("p1", "p2"))
    assert one["generator"]["to_rgb.bias" if name == "sagan" else "net.0.weight"].dtype == torch.float64
    _assert_close(one, two, rtol=RTOL_FP64, atol=RTOL_FP64)
    assert_same_history(tmp_path / "p1/live", tmp_path / "p2/live", steps=[2, 4, 6], rtol=RTOL_FP64)


def test_two_processes_train_cut_like_one_in_fp64(domains):
    """CUT: the heads' gradients are averaged too, and every rank samples the same patch locations
    (the training RNG is drawn in step), so its half-batches add up to one process's batch."""
    p = yaml.safe_load((domains / "params.yaml").read_text())
    p["cyclegan"].update(model="cut", iterations=4, ckpt_every=2, log_every=2, ema=0.5, flip_equivariance=True)
    (domains / "params.yaml").write_text(yaml.safe_dump(p))
    data = f"{domains / 'data/a/train'},{domains / 'data/b/train'}"
    worker = [str(REPO / "tests/dist_worker.py"), str(domains / "params.yaml"), "cyclegan", data]
    subprocess.run([sys.executable, *worker, str(domains / "p1")], check=True, env=_env(), capture_output=True)
    subprocess.run([*TORCHRUN, *worker, str(domains / "p2")], check=True, env=_env(), capture_output=True)
    keys = ("g_ab", "g_ba", "d_a", "d_b", "head_ab", "head_ba", "g_ab_ema")
    one, two = ({k: v for k, v in load_checkpoint(domains / f"{run}/models/last.pt").items() if k in keys}
                for run in ("p1", "p2"))  # fmt: skip
    assert set(one) == set(keys) and one["head_ab"]["mlps.0.0.weight"].dtype == torch.float64
    _assert_close(one, two, rtol=RTOL_FP64, atol=RTOL_FP64)
    assert_same_history(domains / "p1/live", domains / "p2/live", steps=[2, 4], rtol=RTOL_FP64)


def test_two_processes_train_the_weights_of_one_through_the_stage(prepared, tmp_path):
    """fp32, `distributed.nproc_per_node: 2` in params: the stage re-runs itself under torchrun."""
    runs = {}
    for nproc in (1, 2):
        params = _params(tmp_path, "dcgan", nproc=nproc, iterations=6, ckpt_every=3, log_every=2)
        subprocess.run(_train_cmd(tmp_path, "dcgan", f"p{nproc}", params), check=True, env=_env(), capture_output=True)
        runs[nproc] = _weights(tmp_path / f"p{nproc}/models/last.pt")
    _assert_close(runs[1], runs[2])
    # Rank 0 alone wrote: the same files as one process, and one history.
    for what in ("models/checkpoints", "live/plots/images/samples"):
        assert sorted(p.name for p in (tmp_path / "p1" / what).iterdir()) == sorted(
            p.name for p in (tmp_path / "p2" / what).iterdir()
        )
    # The logged losses are means over both ranks' halves: the single-process batch means.
    assert_same_history(tmp_path / "p1/live", tmp_path / "p2/live", steps=[2, 4, 6], rtol=RTOL)


def _worker(tmp_path, params, out, *, nproc, restarts=0):
    cmd = [str(REPO / "tests/dist_worker.py"), str(params), "sagan", str(tmp_path / "train"), str(tmp_path / out)]
    if nproc == 1:
        return [sys.executable, *cmd]
    return [*TORCHRUN[:-1], f"--nproc-per-node={nproc}", f"--max-restarts={restarts}", *cmd]


def test_a_run_resumes_with_another_number_of_processes(prepared, tmp_path):
    params = _params(tmp_path, "sagan", nproc=1, iterations=6, ckpt_every=3)
    subprocess.run((_worker(tmp_path, params, "straight", nproc=1)), check=True, env=_env())
    for nproc, iterations in ((2, 3), (1, 6)):  # started on 2 processes, finished on 1
        params = _params(tmp_path, "sagan", nproc=1, iterations=iterations, ckpt_every=3)
        done = subprocess.run(_worker(tmp_path, params, "mixed", nproc=nproc), check=True, env=_env(),
                              capture_output=True, text=True)  # fmt: skip
    # the second part continued the first (a world size taken for a config change would start over)
    assert "resuming from" in done.stdout and "at iteration 3" in done.stdout, done.stdout[-2000:]
    one, mixed = (_weights(tmp_path / f"{run}/models/last.pt") for run in ("straight", "mixed"))
    _assert_close(one, mixed, rtol=RTOL_FP64, atol=RTOL_FP64)


def test_uneven_batch_split_is_a_clear_error(prepared, tmp_path):
    from ganlab.distributed import World

    with pytest.raises(GanlabError, match=r"sagan.batch_size=9 does not split evenly over 2 processes"):
        World(rank=0, size=2).rows(9, what="sagan.batch_size")


def _workers(launcher: psutil.Process) -> list[psutil.Process]:
    """The training processes under a launcher (torchrun's workers, not torchrun itself)."""
    workers = [p for p in launcher.children(recursive=True) if "LOCAL_RANK" in p.environ()]
    assert len(workers) == 2, workers
    return workers


def test_a_killed_worker_restarts_the_group_which_resumes(prepared, tmp_path):
    """SIGKILL one of 2 workers mid-run: torchrun restarts both, they resume from last.pt, and
    the final weights and history are those of an uninterrupted single-process run (fp64)."""
    # 20 iterations: the kill at 8 leaves 12 to train after the restart, far more than the ~10 ms
    # between the checkpoint appearing and the signal.
    params = _params(tmp_path, "sagan", nproc=1, iterations=20, ckpt_every=4)
    subprocess.run((_worker(tmp_path, params, "straight", nproc=1)), check=True, env=_env())

    launcher = subprocess.Popen((_worker(tmp_path, params, "killed", nproc=2, restarts=3)),
                                env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    deadline = time.time() + 300
    while not (tmp_path / "killed/models/checkpoints/iter_000008.pt").exists():
        assert launcher.poll() is None and time.time() < deadline, "training ended before the kill"
        time.sleep(0.01)
    _workers(psutil.Process(launcher.pid))[-1].send_signal(signal.SIGKILL)
    out, _ = launcher.communicate(timeout=600)
    assert launcher.returncode == 0, out[-3000:]
    assert "resuming from" in out  # printed only by the restarted workers
    one, killed = (_weights(tmp_path / f"{run}/models/last.pt") for run in ("straight", "killed"))
    # atol 1e-7: over 20 steps, Adam's amplified rounding (see RTOL) moves the last block's conv
    # biases, whose gradient is zero up to rounding because a BatchNorm follows, by a few 1e-9
    # around values of 1e-11; every other weight agrees to 1e-9.
    _assert_close(one, killed, rtol=RTOL_FP64, atol=1e-7)
    assert_same_history(tmp_path / "straight/live", tmp_path / "killed/live", steps=list(range(1, 21)), rtol=RTOL_FP64)


def test_no_restarts_left_is_a_clear_error_and_repro_resumes(prepared, tmp_path):
    params = _params(tmp_path, "sagan", nproc=2, iterations=400, ckpt_every=4, max_restarts=0)
    launcher = subprocess.Popen(_train_cmd(tmp_path, "sagan", "run", params), env=_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)  # fmt: skip
    deadline = time.time() + 300
    while not (tmp_path / "run/models/checkpoints/iter_000008.pt").exists():
        assert launcher.poll() is None and time.time() < deadline
        time.sleep(0.01)
    _workers(psutil.Process(launcher.pid))[0].send_signal(signal.SIGKILL)
    out, _ = launcher.communicate(timeout=300)
    assert launcher.returncode == 2, out[-3000:]
    assert "2 processes failed after 0 restart(s) (distributed.max_restarts)" in out
    assert "`dvc repro` resumes from the last one" in out
    kept = load_checkpoint(tmp_path / "run/models/last.pt")["iteration"]
    assert kept >= 4 and (tmp_path / f"run/models/checkpoints/iter_{kept:06d}.pt").exists()
    # Run again (as the next `dvc repro` would): it resumes from that checkpoint.
    short = _params(tmp_path, "sagan", nproc=2, iterations=kept + 4, ckpt_every=4)
    resumed = subprocess.run(_train_cmd(tmp_path, "sagan", "run", short), env=_env(), capture_output=True, text=True)
    assert resumed.returncode == 0 and "resuming from" in resumed.stdout + resumed.stderr


def _stage(name, *args):
    return [sys.executable, str(REPO / f"stages/{name}.py"), *map(str, args)]


def test_fid_and_report_split_over_two_processes_score_as_one(tmp_path):
    """The fid and report stages under 2 processes: each rank generates and embeds every other
    batch (20 images in batches of 8: ranks get 2 and 1 batches), rank 0 gathers them in order
    and scores. Same latents, same images, same features: the same FID and KID."""
    import numpy as np

    from ganlab.metrics.fid import statistics
    from ganlab.metrics.reference import save_features
    from tests.conftest import CIFAR_CLASSES, save_test_snapshot

    for it in (2, 4):
        save_test_snapshot(tmp_path / f"ckpts/iter_{it:06d}.pt", "sagan", classes=CIFAR_CLASSES, iteration=it)
    feats = np.random.default_rng(0).standard_normal((300, 2048)).astype(np.float32)
    mu, sigma = statistics(feats)
    np.savez(tmp_path / "ref.npz", mu=mu, sigma=sigma, num_classes=np.array(10), image_shape=np.array([3, 32, 32]),
             size=np.array(300), split=np.array("test"))  # fmt: skip
    save_features(tmp_path / "ref_features.npz", feats, np.arange(300) % 10)
    refs = ["--reference", tmp_path / "ref.npz", "--reference-features", tmp_path / "ref_features.npz"]
    out = {}
    for nproc in (1, 2):
        p = tiny_params()
        p["distributed"]["nproc_per_node"] = nproc
        p["fid"].update(n_samples=20, batch_size=8)
        p["report"].update(n_samples=20, seed=1)
        params = tmp_path / f"params{nproc}.yaml"
        params.write_text(yaml.safe_dump(p))
        run = tmp_path / f"n{nproc}"
        steps = [
            _stage("fid", "--params", params, "--checkpoints", tmp_path / "ckpts", *refs,
                   "--out", run / "fid.csv", "--cache", run / "cache.json"),
            _stage("select_best", "--params", params, "--input", "sagan", run / "fid.csv", tmp_path / "ckpts",
                   "--reference", tmp_path / "ref.npz", "--out", run / "best.json", "--best-dir", run / "best"),
            _stage("report", "--params", params, "--best", "sagan", run / "best/sagan.pt", "--best-json",
                   run / "best.json", *refs, "--floor-features", tmp_path / "ref_features.npz",
                   "--out", run / "report.json"),
        ]  # fmt: skip
        for cmd in steps:
            done = subprocess.run(cmd, env=_env(), capture_output=True, text=True)
            assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
        out[nproc] = {
            "curve": json.loads((run / "cache.json").read_text()),
            "report": json.loads((run / "report.json").read_text()),
        }
    one, two = out[1], out[2]
    assert one["curve"].keys() == two["curve"].keys()  # the cache keys do not involve the world size
    for key, row in one["curve"].items():
        for metric in ("fid", "kid"):
            assert two["curve"][key][metric] == pytest.approx(row[metric], rel=1e-6), (key, metric)
    r1, r2 = one["report"]["sagan"], two["report"]["sagan"]
    for metric in ("fid", "intra_fid"):
        assert r2[metric] == pytest.approx(r1[metric], rel=1e-6), metric
    assert r2["kid"]["mean"] == pytest.approx(r1["kid"]["mean"], rel=1e-6)
    assert r2["per_class_fid"] == pytest.approx(r1["per_class_fid"], rel=1e-6)
    assert (one["report"]["protocol"]["world_size"], two["report"]["protocol"]["world_size"]) == (1, 2)
    assert {k: v for k, v in one["report"]["protocol"].items() if k != "world_size"} == {
        k: v for k, v in two["report"]["protocol"].items() if k != "world_size"
    }
