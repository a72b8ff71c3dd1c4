"""The report stage's scores: KID, per-class FID, the floor, determinism and the protocol."""

import json

import numpy as np
import pytest
import torch

from ganlab.config import ReportConfig, RunSeeds
from ganlab.errors import GanlabError
from ganlab.metrics.fid import FrechetReference, statistics
from ganlab.metrics.kid import kid
from ganlab.metrics.prdc import prdc
from ganlab.metrics.reference import floor_fid, load_features, save_features
from ganlab.metrics.report import ClassReferences, per_class_fid, score_checkpoint, spread, write_report
from ganlab.metrics.select import select_best
from ganlab.training.checkpoints import snapshot_path
from tests.conftest import save_test_snapshot


def _unbiased_mmd2(x, y):
    """Bińkowski et al.'s unbiased MMD² with k(a, b) = (a·b/d + 1)³, written out directly."""
    d = x.shape[1]
    k = lambda a, b: (a @ b.T / d + 1.0) ** 3  # noqa: E731
    m, n = len(x), len(y)
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    return (kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1)) - 2.0 * kxy.mean()


def test_kid_matches_the_unbiased_mmd_formula():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 64)).astype(np.float32)
    y = (rng.standard_normal((200, 64)) * 1.3 + 0.2).astype(np.float32)
    # 200 images: subsets of 100 that differ, so the spread says something (subsets of all 200
    # would all be the same set, with a spread of 0); the mean estimates the full-set MMD².
    out = kid(x, y)
    full = _unbiased_mmd2(x.astype(np.float64), y.astype(np.float64))
    assert out["subset_size"] == 100 and out["std"] > 0.01 * full
    assert out["mean"] == pytest.approx(full, abs=3 * out["std"] / np.sqrt(10))
    import torch_fidelity.metric_kid as metric_kid

    whole = metric_kid.kid_features_to_metric(torch.from_numpy(x), torch.from_numpy(y), kid_subsets=3,
                                              kid_subset_size=200, verbose=False)  # fmt: skip
    assert whole["kernel_inception_distance_mean"] == pytest.approx(full, rel=1e-4)  # the formula itself
    # A second sample of x's distribution: near 0 (unbiased, so either sign).
    same = kid(x, rng.standard_normal((200, 64)).astype(np.float32))
    assert abs(same["mean"]) < 0.05 * out["mean"]


def test_kid_uses_100_subsets_of_1000_when_there_are_enough(monkeypatch):
    import torch_fidelity.metric_kid as metric_kid

    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((1500, 16)), rng.standard_normal((1200, 16)) + 0.1
    calls, real = [], metric_kid.kid_features_to_metric
    monkeypatch.setattr(metric_kid, "kid_features_to_metric", lambda *a, **kw: calls.append(kw) or real(*a, **kw))
    out = kid(x.astype(np.float32), y.astype(np.float32))
    assert out["subset_size"] == 1000 and out["std"] > 0
    assert calls[0]["kid_subsets"] == 100 and calls[0]["kid_subset_size"] == 1000  # what torch-fidelity was asked
    # the subset count is observable in the result: other counts give other means
    other = real(torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.float32)),
                 **{**calls[0], "kid_subsets": 10})  # fmt: skip
    assert other["kernel_inception_distance_mean"] != pytest.approx(out["mean"], rel=1e-9)
    assert out == kid(x.astype(np.float32), y.astype(np.float32))  # seeded subsets: deterministic


def test_per_class_fid_known_answers():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((300, 8))
    labels = np.arange(300) % 3
    classes = ["a", "b", "c"]
    same = per_class_fid(ref.copy(), labels, ref, labels, classes)
    assert all(abs(v) < 1e-9 for v in same.values())
    # Shifting one class's features by δ moves only its mean: its FID is |δ|², the rest stay 0.
    shifted = ref.copy()
    shifted[labels == 1] += 0.5
    out = per_class_fid(shifted, labels, ref, labels, classes)
    assert out["b"] == pytest.approx(8 * 0.25, rel=1e-9) and abs(out["a"]) < 1e-9 and abs(out["c"]) < 1e-9
    with pytest.raises(
        GanlabError, match=r"class 2 \(c\): needs at least 2 generated images, found 1 .*report.n_samples"
    ):
        per_class_fid(ref[:5], labels[:5], ref, labels, classes)


def test_per_class_fid_leaves_out_a_class_short_of_reference_images(capsys):
    """A class with one reference image gets a warning naming it and both counts, not an error
    (no report.n_samples can fix the reference side)."""
    rng = np.random.default_rng(0)
    gen, gen_labels = rng.standard_normal((90, 8)), np.arange(90) % 3
    ref_labels = np.array([0] * 40 + [1] * 40 + [2])
    ref = rng.standard_normal((81, 8))
    out = per_class_fid(gen, gen_labels, ref, ref_labels, ["a", "b", "c"])
    assert list(out) == ["a", "b"]
    err = capsys.readouterr().err
    assert "leaves out class 2 (c): 1 reference image(s), 30 generated" in err


def test_floor_uses_the_first_n_training_features():
    rng = np.random.default_rng(0)
    train, test = rng.standard_normal((50, 4)), rng.standard_normal((40, 4))
    reference = FrechetReference(*statistics(test))
    fid, n = floor_fid(train, reference, n=30)
    assert n == 30 and fid == pytest.approx(reference.distance(*statistics(train[:30])))
    assert floor_fid(train, reference, n=500)[1] == 50  # capped at what is stored


def _snapshot(folder, name, iteration, classes):
    torch.manual_seed(iteration)
    save_test_snapshot(snapshot_path(folder, iteration), name, classes=classes, iteration=iteration)


@pytest.fixture
def scored_setup(tmp_path):
    """A curve over two snapshots of each model (sagan with 2 classes, to keep the per-class
    Fréchet distances few) and random stand-in reference features."""
    classes = ["sneaker", "boot"]
    rng = np.random.default_rng(0)
    test_feats = rng.standard_normal((40, 2048)).astype(np.float32) * 0.1
    test_labels = np.arange(40) % 2
    save_features(tmp_path / "reference_features.npz", test_feats, test_labels)
    save_features(tmp_path / "floor_features.npz", test_feats[::-1] + 0.01, test_labels[::-1])
    mu, sigma = statistics(test_feats)
    np.savez(tmp_path / "stats.npz", mu=mu, sigma=sigma, num_classes=np.array(2),
             image_shape=np.array([3, 32, 32]), size=np.array(40), split=np.array("test"))  # fmt: skip
    inputs = {}
    for model in ("dcgan", "sagan"):
        for it in (1, 2):
            _snapshot(tmp_path / model, model, it, classes)
        csv = tmp_path / f"{model}.csv"
        csv.write_text("iteration,fid,n_samples,seconds\n1,50.0,20,1\n2,40.0,20,1\n")
        inputs[model] = (csv, tmp_path / model)
    select_best(inputs, reference_stats=tmp_path / "stats.npz", seed=0, metrics_out=tmp_path / "best.json",
                best_dir=tmp_path / "best")  # fmt: skip
    return tmp_path


def _report(root, out="report.json", seed=1):
    return write_report(
        best={m: root / "best" / f"{m}.pt" for m in ("dcgan", "sagan")},
        best_json=root / "best.json",
        reference_stats=root / "stats.npz",
        reference_features=root / "reference_features.npz",
        floor_features=root / "floor_features.npz",
        seeds=RunSeeds(training=0, curve=0, report=seed, entry=0),
        n_samples=20,
        batch_size=10,
        device="cpu",
        out=root / out,
    )


def test_report_is_complete_and_deterministic(scored_setup):
    first = _report(scored_setup)
    second = _report(scored_setup, out="again.json")
    assert first == second  # the same checkpoint and settings score the same, to the last digit
    saved = json.loads((scored_setup / "report.json").read_text())
    assert saved == json.loads(json.dumps(first))
    row = saved["sagan"]
    assert (
        row["iteration"] == 2 and row["curve_fid"] == 40.0 and row["curve_n_samples"] == 20 and row["curve_seed"] == 0
    )
    assert np.isfinite(row["fid"]) and {"mean", "std", "subset_size"} <= set(row["kid"])
    assert list(row["per_class_fid"]) == ["sneaker", "boot"]
    assert "per_class_fid" not in saved["dcgan"] and np.isfinite(saved["dcgan"]["fid"])  # unconditional
    assert row["intra_fid"] == pytest.approx(np.mean(list(row["per_class_fid"].values())))
    assert list(row["per_class_spread"]) == ["sneaker", "boot"] and all(v > 0 for v in row["per_class_spread"].values())
    assert saved["dcgan"]["spread"] > 0 and "per_class_spread" not in saved["dcgan"]
    protocol = saved["protocol"]
    assert protocol["description"] == "FID, 20 generated vs the 40 test images, pytorch-fid Inception"
    assert protocol["latent_seed"] == 1 and protocol["reference_size"] == 40
    assert protocol["feature_network"]["weights_sha256"] and "torch-fidelity" in protocol["kid"]
    assert saved["floor"]["n_samples"] == 20 and np.isfinite(saved["floor"]["fid"])
    assert saved["floor"]["description"].startswith("FID, 20 real training images vs the 40 test images")


def test_report_gives_precision_recall_density_coverage_per_model_per_class_and_for_the_floor(scored_setup):
    saved = _report(scored_setup)
    reference, labels = load_features(scored_setup / "reference_features.npz")
    floor = load_features(scored_setup / "floor_features.npz")[0][:20]
    # the floor's four are those of its 20 real images against the 40 reference ones
    assert saved["floor"]["prdc"] == prdc(floor, reference)
    for model in ("dcgan", "sagan"):
        assert set(saved[model]["prdc"]) == {"precision", "recall", "density", "coverage"}
        assert all(0 <= v for v in saved[model]["prdc"].values())
    # per class: 10 generated images of a class against that class's 20 reference images, k = 5
    row = saved["sagan"]
    assert list(row["per_class_recall"]) == list(row["per_class_coverage"]) == ["sneaker", "boot"]
    assert all(0 <= v <= 1 for v in [*row["per_class_recall"].values(), *row["per_class_coverage"].values()])
    assert "per_class_recall" not in saved["dcgan"]
    assert saved["protocol"]["prdc"].startswith(
        "precision, recall (Kynkäänniemi et al. 2019), density, coverage (Naeem et al. 2020), k = 5, "
        "20 generated vs the 40 test images, pytorch-fid Inception; per class"
    )


def test_class_variety_names_a_collapsed_class():
    """Class 0's generated images are its reference images; class 1's are one image repeated."""
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((200, 8))
    labels = np.arange(200) % 2
    refs = ClassReferences(ref, labels, ["varied", "collapsed"])
    gen = np.concatenate([ref[labels == 0], np.repeat(ref[labels == 1][:1], 100, axis=0)])
    variety = refs.variety(gen, np.repeat([0, 1], 100))
    assert variety["recall"]["varied"] == 1.0 and variety["coverage"]["varied"] == 1.0
    assert variety["recall"]["collapsed"] <= 0.01 and variety["coverage"]["collapsed"] < 0.2


def test_report_seed_must_differ_from_the_curve_seed(scored_setup):
    with pytest.raises(GanlabError, match=r"report.seed: expected latents \(0\) different from the curve's \(0\)"):
        _report(scored_setup, seed=0)


def test_each_run_derives_its_seeds_from_its_entry():
    """Entry s: training and curve latents s, report latents s + report.seed; seeds [0] with
    report.seed 1 is the single run ganlab always made (0, 0, 1)."""
    assert RunSeeds.of(0, ReportConfig(n_samples=2, seed=1)) == RunSeeds(training=0, curve=0, report=1, entry=0)
    assert RunSeeds.of(2, ReportConfig(n_samples=2, seed=1)) == RunSeeds(training=2, curve=2, report=3, entry=2)


def test_spread_measures_missing_variety_overall_and_per_class():
    rng = np.random.default_rng(3)
    ref, labels = rng.standard_normal((300, 8)) * np.arange(1, 9), np.arange(300) % 3
    reference = FrechetReference(*statistics(ref))
    assert spread(ref, reference) == pytest.approx(1.0)
    # Half the distance to the mean is a quarter of the variance; a shift moves no variance.
    mean = ref.mean(axis=0)
    assert spread(mean + 0.5 * (ref - mean) + 3.0, reference) == pytest.approx(0.25)
    # One class collapsed onto a single image: its spread is 0, the others keep theirs; FID alone
    # could not tell that collapse from a shift.
    gen = ref.copy()
    gen[labels == 1] = gen[labels == 1][0]
    references = ClassReferences(ref, labels, ["a", "b", "c"])
    assert references.spreads(gen, labels) == pytest.approx({"a": 1.0, "b": 0.0, "c": 1.0})
    with pytest.raises(GanlabError, match=r"class 2 \(c\): needs at least 2 generated images, found 1"):
        references.spreads(gen[:5], labels[:5])


def test_class_references_built_once_score_as_per_class_fid():
    """One ClassReferences serves many generated sets, each scored exactly as per_class_fid would."""
    rng = np.random.default_rng(2)
    ref, ref_labels = rng.standard_normal((120, 6)), np.arange(120) % 3
    references = ClassReferences(ref, ref_labels, ["a", "b", "c"])
    for shift in (0.0, 0.3):
        gen, gen_labels = rng.standard_normal((60, 6)) + shift, np.arange(60) % 3
        assert references.distances(gen, gen_labels) == per_class_fid(gen, gen_labels, ref, ref_labels, ["a", "b", "c"])


def _score(root, **kw):
    from ganlab.metrics.fid import InceptionFeatures, load_statistics
    from ganlab.metrics.reference import load_features

    stats = load_statistics(root / "stats.npz")
    features, labels = load_features(root / "reference_features.npz")
    return score_checkpoint(
        root / "best" / "sagan.pt",
        inception=InceptionFeatures(device=torch.device("cpu")),
        reference=FrechetReference(stats["mu"], stats["sigma"]),
        ref_features=features,
        ref_labels=labels,
        n=20,
        seed=1,
        batch_size=10,
        **kw,
    )


def test_score_checkpoint_takes_prepared_class_references_and_can_skip_kid(scored_setup):
    from ganlab.metrics.reference import load_features

    features, labels = load_features(scored_setup / "reference_features.npz")
    full = _score(scored_setup)
    prepared = _score(
        scored_setup, with_kid=False, class_references=ClassReferences(features, labels, ["sneaker", "boot"])
    )
    assert "kid" in full and "kid" not in prepared
    assert prepared["fid"] == full["fid"] and prepared["per_class_fid"] == full["per_class_fid"]
    # References of other classes would score the wrong images against each class: refused.
    with pytest.raises(GanlabError, match=r"sagan.pt: the generator's classes \['sneaker', 'boot'\] are not"):
        _score(scored_setup, class_references=ClassReferences(features, labels, ["boot", "sneaker"]))


def test_the_report_scores_images_drawn_with_report_seed_not_the_curves(scored_setup):
    """The re-score is observed through its images: FID of the best snapshot's images from latent
    seed report.seed (1), computed here from the snapshot, equals the report's; seed 0's does not."""
    from ganlab.metrics.fid import InceptionFeatures
    from ganlab.sampling import balanced_labels, generate_batches
    from ganlab.training.checkpoints import load_generator

    saved = _report(scored_setup)
    stats = np.load(scored_setup / "stats.npz")
    reference = FrechetReference(stats["mu"], stats["sigma"])
    inception = InceptionFeatures(device=torch.device("cpu"))
    generator, _ = load_generator(scored_setup / "best" / "sagan.pt")
    labels = balanced_labels(20, generator.num_classes, device=torch.device("cpu"))

    def fid_at(seed):
        batches = generate_batches(generator, n=20, batch_size=10, seed=seed, device=torch.device("cpu"), labels=labels)
        return reference.distance_to(inception.of_batches(batches))

    assert saved["sagan"]["fid"] == pytest.approx(fid_at(1), rel=1e-9)
    assert abs(saved["sagan"]["fid"] - fid_at(0)) > 1e-3
