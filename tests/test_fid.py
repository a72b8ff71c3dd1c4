import json
import subprocess
import sys
from urllib.error import URLError

import numpy as np
import pytest
import torch
from PIL import Image
from pytorch_fid import fid_score

from ganlab.config import FIDConfig
from ganlab.errors import GanlabError
from ganlab.io import file_digest
from ganlab.metrics import evaluate
from ganlab.metrics.evaluate import evaluate_checkpoints
from ganlab.metrics.fid import (
    FidError,
    FrechetReference,
    InceptionFeatures,
    exact_fp32,
    fold_batchnorm,
    frechet_distance,
    load_inception,
    load_statistics,
    reference_info,
    statistics,
    weights_path,
)
from ganlab.metrics.kid import kid
from ganlab.metrics.prdc import PRDC_K
from ganlab.metrics.reference import FLOOR_SEED, compute_reference, load_features, save_features
from ganlab.metrics.select import select_best
from ganlab.sampling import generate_batches
from ganlab.training.checkpoints import load_generator, snapshot_path
from tests.conftest import CIFAR_CLASSES, save_test_snapshot, write_prepared

N = 40  # per side: enough for a stable comparison, small enough for 2 CPU cores


@pytest.fixture(scope="module")
def image_sets():
    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, 256, (N, 3, 32, 32), dtype=torch.uint8, generator=g)
    b = (a.int() + torch.randint(-60, 61, a.shape, generator=g)).clamp(0, 255).to(torch.uint8)
    return a, b


@pytest.fixture(scope="module")
def features(image_sets):
    inception = InceptionFeatures(device=torch.device("cpu"))
    return [inception.of_images(x, batch_size=N) for x in image_sets]


def test_fid_of_a_set_against_itself_is_zero_and_perturbed_is_higher(features):
    fa, fb = features
    same = frechet_distance(*statistics(fa), *statistics(fa))
    other = frechet_distance(*statistics(fb), *statistics(fa))
    assert abs(same) < 1e-6 * other
    assert other > 1.0


def test_agrees_with_pytorch_fid_cli_on_png_folders(tmp_path, image_sets, features):
    for name, images in zip("ab", image_sets):
        (tmp_path / name).mkdir()
        for i, im in enumerate(images):
            Image.fromarray(im.permute(1, 2, 0).numpy()).save(tmp_path / name / f"{i:03d}.png")
    out = subprocess.run(
        [sys.executable, "-m", "pytorch_fid", str(tmp_path / "b"), str(tmp_path / "a"),
         "--device", "cpu", "--batch-size", str(N), "--num-workers", "0"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    cli = float(out.stdout.split("FID:")[1])
    ours = frechet_distance(*statistics(features[1]), *statistics(features[0]))
    assert ours == pytest.approx(cli, rel=1e-4)


def test_features_are_deterministic_and_never_autocast(image_sets, features):
    inception = InceptionFeatures(device=torch.device("cpu"))
    again = inception.of_images(image_sets[0], batch_size=N)
    assert np.array_equal(again, features[0])  # the same images score the same, to the last bit
    with torch.autocast("cpu", dtype=torch.bfloat16):  # as if called from inside a bf16 region
        inside = inception.of_images(image_sets[0], batch_size=N)
    assert inside.dtype == np.float32 and np.array_equal(inside, features[0])


def test_exact_fp32_turns_tf32_and_autotuning_off_on_cuda_and_restores_them():
    flags = lambda: (  # noqa: E731
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
        torch.backends.cudnn.benchmark,
    )
    before = flags()
    try:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
        with exact_fp32(torch.device("cuda")):
            assert flags() == (False, False, False)
        assert flags() == (True, True, True)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark = before


def test_batchnorm_folding_is_exact_up_to_rounding():
    model = load_inception(torch.device("cpu"))
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        plain = model(x)[0]
        folded = fold_batchnorm(model)(x)[0]
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    torch.testing.assert_close(folded, plain, rtol=1e-4, atol=1e-5)


def test_frechet_agrees_with_sqrtm_on_real_shaped_covariances():
    rng = np.random.default_rng(0)
    d = 2048
    # Inception-like: full rank, eigenvalues spread over orders of magnitude.
    basis = np.linalg.qr(rng.standard_normal((d, d)))[0]
    spectrum = np.logspace(-4, 1, d)
    sigma_r = (basis * spectrum) @ basis.T
    a = rng.standard_normal((d, d)) * 0.05
    sigma_g = sigma_r + a @ a.T / d
    mu_r, mu_g = rng.standard_normal(d), rng.standard_normal(d) * 0.1
    ours = FrechetReference(mu_r, sigma_r).distance(mu_g, sigma_g)
    theirs = fid_score.calculate_frechet_distance(mu_g, sigma_g, mu_r, sigma_r)
    assert ours == pytest.approx(theirs, rel=1e-6)


def test_select_picks_minimum_ties_to_earliest_and_states_the_protocol(tmp_path, reference):
    inputs = {}
    for model, rows in (("dcgan", [(1, 50.0), (2, 40.0), (3, 40.0), (4, 45.0)]), ("sagan", [(2, 9.0), (1, 30.0)])):
        folder = _snapshots(tmp_path / model, [it for it, _ in rows])
        csv = tmp_path / f"{model}.csv"
        csv.write_text("iteration,fid,n_samples,seconds\n" + "".join(f"{i},{f},10,1\n" for i, f in rows))
        inputs[model] = (csv, folder)
    best = select_best(
        inputs, reference_stats=reference, seed=3, metrics_out=tmp_path / "best.json", best_dir=tmp_path / "best"
    )
    assert best["dcgan"] == {"iteration": 2, "fid": 40.0, "precision": "fp32"}
    assert best["sagan"] == {"iteration": 2, "fid": 9.0, "precision": "fp32"}
    protocol = best["protocol"]
    assert protocol["description"] == "FID, 10 generated vs the 3k test images, pytorch-fid Inception"
    assert (protocol["n_samples"], protocol["reference_split"], protocol["reference_size"]) == (10, "test", 3000)
    assert protocol["latent_seed"] == 3 and protocol["feature_network"]["pytorch_fid"] == "0.3.0"
    assert protocol["feature_network"]["weights_sha256"] == file_digest(weights_path(), "sha256")
    assert json.loads((tmp_path / "best.json").read_text()) == best
    assert (tmp_path / "best/dcgan.pt").read_bytes() == (tmp_path / "dcgan/checkpoints/iter_000002.pt").read_bytes()


def _snapshots(tmp_path, iterations, num_classes=10):
    folder = tmp_path / "checkpoints"
    for it in iterations:
        torch.manual_seed(it)
        save_test_snapshot(
            snapshot_path(folder, it), "sagan", classes=CIFAR_CLASSES, iteration=it, num_classes=num_classes
        )
    return folder


@pytest.fixture
def reference(tmp_path):
    rng = np.random.default_rng(0)
    feats = rng.standard_normal((3000, 2048)).astype(np.float32)
    path = tmp_path / "ref.npz"
    mu, sigma = statistics(feats)
    np.savez(
        path,
        mu=mu,
        sigma=sigma,
        num_classes=np.array(10),
        image_shape=np.array([3, 32, 32]),
        size=np.array(3000),
        split=np.array("test"),
    )
    save_features(tmp_path / "ref_features.npz", feats, np.arange(3000) % 10)
    return path


def library_prdc(fake: np.ndarray, real: np.ndarray, k: int = PRDC_K) -> dict[str, float]:
    """torch-fidelity's precision and recall and clovaai prdc's density and coverage, in float64."""
    from prdc import compute_prdc
    from torch_fidelity.metric_prc import calculate_precision_recall_full

    fake64, real64 = np.asarray(fake, np.float64), np.asarray(real, np.float64)
    precision, recall = calculate_precision_recall_full(torch.from_numpy(fake64), torch.from_numpy(real64), k)
    theirs = compute_prdc(real_features=real64, fake_features=fake64, nearest_k=k)
    return {"precision": precision, "recall": recall, "density": theirs["density"], "coverage": theirs["coverage"]}


def test_cache_skips_evaluated_checkpoints(tmp_path, reference, monkeypatch, capsys):
    folder = _snapshots(tmp_path, [2, 4])
    cfg = FIDConfig(n_samples=8, batch_size=8, reference="test", reference_size=0)
    kwargs = dict(checkpoints_dir=folder, reference_path=reference, cfg=cfg,
                  reference_features_path=tmp_path / "ref_features.npz", seed=0, device="cpu",
                  csv_out=tmp_path / "fid.csv", cache_path=tmp_path / "cache.json", progress=False)  # fmt: skip
    first = evaluate_checkpoints(**kwargs)
    assert [r["iteration"] for r in first] == [2, 4] and all(np.isfinite(r["fid"]) for r in first)
    assert "warning: fid.n_samples=8 < 2048" in capsys.readouterr().err

    loaded = []
    real_load = evaluate.load_generator
    monkeypatch.setattr(evaluate, "load_generator", lambda p, d: loaded.append(p.name) or real_load(p, d))
    _snapshots(tmp_path, [6])
    second = evaluate_checkpoints(**kwargs)
    assert loaded == ["iter_000006.pt"]
    assert second[:2] == first
    header = "iteration,fid,kid,kid_std,precision,recall,density,coverage,n_samples,seconds"
    assert (tmp_path / "fid.csv").read_text().splitlines()[0] == header
    # Same seed, same checkpoint: same numbers (the cached values are not just echoed back).
    (tmp_path / "cache.json").unlink()
    fresh = evaluate_checkpoints(**kwargs)
    assert [(r["iteration"], r["fid"], r["kid"]) for r in fresh[:2]] == [
        (r["iteration"], r["fid"], r["kid"]) for r in first
    ]
    # The KID is that of the checkpoint's generated images against the reference features.
    generator, _ = load_generator(folder / "iter_000004.pt")
    images = torch.cat(list(generate_batches(generator, n=8, batch_size=8, seed=0, device=torch.device("cpu"))))
    features = InceptionFeatures(device=torch.device("cpu"))(images)
    expected = kid(features, load_features(tmp_path / "ref_features.npz")[0])
    assert first[1]["kid"] == pytest.approx(expected["mean"], rel=1e-6)
    assert first[1]["kid_std"] == pytest.approx(expected["std"], rel=1e-6)
    # The FID is pytorch-fid's Fréchet distance between these features' statistics and the reference's.
    ref = np.load(reference)
    mu, sigma = features.mean(0, dtype=np.float64), np.cov(features.astype(np.float64), rowvar=False)
    theirs = fid_score.calculate_frechet_distance(mu, sigma, ref["mu"], ref["sigma"])
    assert first[1]["fid"] == pytest.approx(theirs, rel=1e-4)
    # Precision, recall, density and coverage are the libraries' on the same features (k = 5).
    theirs = library_prdc(features, load_features(tmp_path / "ref_features.npz")[0])
    assert {k: first[1][k] for k in theirs} == pytest.approx(theirs, abs=1e-6)  # counts of 1/8: equal


def test_fid_errors_are_clear(tmp_path, reference):
    cfg = FIDConfig(n_samples=4, batch_size=4, reference="test", reference_size=0)
    kwargs = dict(reference_path=reference, reference_features_path=tmp_path / "ref_features.npz", cfg=cfg,
                  seed=0, device="cpu",
                  csv_out=tmp_path / "fid.csv", cache_path=tmp_path / "cache.json", progress=False)  # fmt: skip
    (tmp_path / "empty").mkdir()
    with pytest.raises(FidError, match=r"empty: no iter_\*.pt checkpoints"):
        evaluate_checkpoints(checkpoints_dir=tmp_path / "empty", **kwargs)
    folder = _snapshots(tmp_path, [1], num_classes=7)
    with pytest.raises(FidError, match=r"iter_000001.pt: conditioned on 7 classes, the reference set has 10"):
        evaluate_checkpoints(checkpoints_dir=folder, **kwargs)
    kwargs["reference_path"] = tmp_path / "missing.npz"
    with pytest.raises(FidError, match=r"missing.npz: FID reference statistics not found"):
        evaluate_checkpoints(checkpoints_dir=folder, **kwargs)


def test_offline_weights_error_is_clear(tmp_path, monkeypatch):
    import pytorch_fid.inception

    def offline(*args, **kwargs):
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(pytorch_fid.inception, "load_state_dict_from_url", offline)
    with pytest.raises(GanlabError) as e:
        InceptionFeatures(device=torch.device("cpu"))
    message = str(e.value)
    assert str(tmp_path / "torch/hub/checkpoints/pt_inception-2015-12-05-6726825d.pth") in message
    assert "github.com/mseitzer/pytorch-fid/releases" in message and "TORCH_HOME" in message
    assert "Traceback" not in message


def test_reference_matches_pytorch_fid_save_stats_and_keeps_features(tmp_path):
    rng = np.random.default_rng(0)
    images = {}
    for name, n in (("test", 12), ("train", 30)):
        images[name] = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
        write_prepared(tmp_path / name, images[name], np.arange(n) % 10, CIFAR_CLASSES)
    features = compute_reference(
        reference="test", test_path=tmp_path / "test", train_path=tmp_path / "train", stats_out=tmp_path / "stats.npz",
        reference_features_out=tmp_path / "test_features.npz", floor_features_out=tmp_path / "train_features.npz",
        batch_size=12, device="cpu", progress=False,
    )  # fmt: skip
    # pytorch-fid's own CLI on the same images as PNGs.
    (tmp_path / "png").mkdir()
    for i, im in enumerate(torch.from_numpy(images["test"])):
        Image.fromarray(im.permute(1, 2, 0).numpy()).save(tmp_path / "png" / f"{i:03d}.png")
    subprocess.run(
        [sys.executable, "-m", "pytorch_fid", "--save-stats", str(tmp_path / "png"), str(tmp_path / "cli.npz"),
         "--device", "cpu", "--batch-size", "12", "--num-workers", "0"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    with np.load(tmp_path / "stats.npz") as ours, np.load(tmp_path / "cli.npz") as cli:
        assert ours["mu"].shape == (2048,) and ours["sigma"].shape == (2048, 2048) and int(ours["size"]) == 12
        assert str(ours["split"]) == "test"
        np.testing.assert_allclose(ours["mu"], cli["mu"], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(ours["sigma"], cli["sigma"], rtol=1e-4, atol=1e-6)
    test_feats, test_labels = load_features(tmp_path / "test_features.npz")
    assert test_feats.dtype == np.float32 and np.array_equal(test_feats, features["reference"])
    assert test_labels.tolist() == [i % 10 for i in range(12)]
    train_feats, train_labels = load_features(tmp_path / "train_features.npz")
    # As many as the test set, drawn at random (not the first 12, whose labels are 0..9, 0, 1):
    # exactly the training images a permutation seeded with FLOOR_SEED picks first, in order.
    assert train_feats.shape == (12, 2048) and train_labels.tolist() != test_labels.tolist()
    picked = torch.randperm(30, generator=torch.Generator().manual_seed(FLOOR_SEED))[:12].sort().values.numpy()
    assert train_labels.tolist() == (np.arange(30) % 10)[picked].tolist()
    expected = InceptionFeatures(device=torch.device("cpu"))(torch.from_numpy(images["train"][picked]))
    np.testing.assert_allclose(train_feats, expected, rtol=1e-5, atol=1e-5)
    # and the same draw every time (the floor is a fixed set, not a fresh sample per run)
    again = compute_reference(
        reference="test", test_path=tmp_path / "test", train_path=tmp_path / "train", stats_out=tmp_path / "s2.npz",
        reference_features_out=tmp_path / "t2.npz", floor_features_out=tmp_path / "f2.npz", batch_size=12,
        device="cpu", progress=False,
    )  # fmt: skip
    assert np.array_equal(again["floor"], features["floor"])


def test_stats_without_size_are_named_as_stale(tmp_path, reference):
    with np.load(reference) as f:
        np.savez(tmp_path / "old.npz", mu=f["mu"], sigma=f["sigma"])
    with pytest.raises(FidError, match=r"old.npz: no 'size' or 'split' .*re-run `dvc repro fid_reference`"):
        reference_info(load_statistics(tmp_path / "old.npz"), tmp_path / "old.npz")


def test_frechet_in_torch_equals_numpy():
    # The GPU path (torch float64 eigendecompositions) is the numpy path's formula; on CPU both run.
    rng = np.random.default_rng(1)
    ref, gen = rng.standard_normal((400, 64)), rng.standard_normal((300, 64)) * 1.1 + 0.2
    numpy_ = FrechetReference(*statistics(ref)).distance(*statistics(gen))
    torch_ = FrechetReference(*statistics(ref), device="cpu").distance(*statistics(gen))
    assert torch_ == pytest.approx(numpy_, rel=1e-10)


@pytest.mark.parametrize("device", [None, "cpu"])
def test_few_images_take_the_small_spectrum_and_give_the_same_distance(device):
    # d = 64 dims; n below it is a rank-deficient covariance, where the distances skip the d×d
    # decomposition. Each must equal the full-rank path on the same statistics, up to the √eps
    # (relative) that clipping the rounding noise of a zero eigenvalue costs either path.
    rng = np.random.default_rng(2)
    few_ref, many_ref = rng.standard_normal((40, 64)), rng.standard_normal((400, 64))
    few_gen, many_gen = rng.standard_normal((25, 64)) * 1.2 + 0.1, rng.standard_normal((300, 64)) * 0.9
    for ref in (few_ref, many_ref):
        full = FrechetReference(*statistics(ref), device=device)  # always the √Σr path
        kept = FrechetReference.of_features(ref, device=device)
        assert (kept._x is not None) == (len(ref) <= 64)
        for gen in (few_gen, many_gen):
            expected = FrechetReference(*statistics(ref)).distance(*statistics(gen))
            assert full.distance_to(gen) == pytest.approx(expected, rel=1e-7)
            assert kept.distance_to(gen) == pytest.approx(expected, rel=1e-7)
            assert kept.distance(*statistics(gen)) == pytest.approx(expected, rel=1e-7)
    assert FrechetReference.of_features(few_ref).distance_to(few_ref) == pytest.approx(0.0, abs=1e-9)


def test_distance_to_features_of_other_dims_is_a_clear_error():
    reference = FrechetReference.of_features(np.zeros((10, 8)) + np.eye(10, 8))
    with pytest.raises(FidError, match=r"do not match the reference \(8,\)"):
        reference.distance_to(np.ones((5, 16)))


def test_the_cpu_pass_is_measured_once_per_machine_and_cached(tmp_path, monkeypatch):
    from ganlab.metrics import inception_pass as ip

    monkeypatch.delenv(ip.ENV, raising=False)
    cache = tmp_path / "cache/inception_pass.json"
    cache.parent.mkdir()
    cache.write_text(json.dumps({"another machine": {"pass": "nchw:32"}}))
    calls = []

    def timer(model):
        calls.append(model)
        return {ip.FeaturePass("nhwc", 8): 20.0, ip.FeaturePass("nchw", 32): 25.0}

    assert ip.cpu_pass("model", cache=cache, timer=timer) == ip.FeaturePass("nchw", 32)  # the fastest
    assert ip.cpu_pass("model", cache=cache, timer=timer) == ip.FeaturePass("nchw", 32) and len(calls) == 1
    kept = json.loads(cache.read_text())
    assert kept[ip.machine_key()]["img_per_s"] == {"nhwc:8": 20.0, "nchw:32": 25.0} and "another machine" in kept
    cache.write_text("{not json")  # a damaged cache is measured again, not an error
    assert ip.cpu_pass("model", cache=cache, timer=timer) == ip.FeaturePass("nchw", 32) and len(calls) == 2
    monkeypatch.setenv(ip.ENV, "nhwc:16")
    assert ip.cpu_pass("model", cache=cache, timer=timer) == ip.FeaturePass("nhwc", 16) and len(calls) == 2
    monkeypatch.setenv(ip.ENV, "nhwc")
    with pytest.raises(GanlabError, match=r"GANLAB_INCEPTION_PASS: expected LAYOUT:CHUNK .* found 'nhwc'"):
        ip.cpu_pass("model", cache=cache, timer=timer)


def test_machine_key_names_the_cpu_and_its_vector_extensions(tmp_path):
    from ganlab.metrics.inception_pass import machine_key

    (tmp_path / "cpuinfo").write_text("model name\t: AMD EPYC 7B13\nflags\t\t: fpu sse2 avx2 fma\n")
    key = machine_key(tmp_path / "cpuinfo")
    assert key.startswith("AMD EPYC 7B13 | avx2 | torch ") and key.endswith(f"{torch.get_num_threads()} threads")
    assert machine_key(tmp_path / "missing").startswith("unknown CPU | none")


def test_every_cpu_pass_gives_the_same_features():
    from ganlab.metrics.inception_pass import CPU_CANDIDATES, measure

    images = torch.randint(0, 256, (10, 3, 32, 32), dtype=torch.uint8)
    features = [InceptionFeatures(device=torch.device("cpu"), feature_pass=p)(images) for p in CPU_CANDIDATES]
    for other in features[1:]:
        np.testing.assert_allclose(other, features[0], rtol=1e-4, atol=1e-5)
    speeds = measure(InceptionFeatures(device=torch.device("cpu"), feature_pass=CPU_CANDIDATES[0]).model,
                     CPU_CANDIDATES[:2], rounds=1)  # fmt: skip
    assert set(speeds) == set(CPU_CANDIDATES[:2]) and all(s > 0 for s in speeds.values())
