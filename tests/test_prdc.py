"""Precision, recall, density and coverage (ganlab.metrics.prdc) against torch-fidelity and
clovaai's prdc on the same features, and on sets whose answers are known by hand."""

import numpy as np
import pytest
import torch

from ganlab.metrics.prdc import knn_radii, prdc
from tests.test_fid import library_prdc


@pytest.mark.parametrize("k", [3, 5])
@pytest.mark.parametrize("shift", [0.0, 0.7])
def test_equals_torch_fidelity_and_prdc_on_the_same_features(k, shift):
    rng = np.random.default_rng(k)
    real = rng.normal(size=(400, 32))
    fake = rng.normal(size=(300, 32)) * 0.8 + shift  # narrower, and shifted in one arm
    ours = prdc(fake, real, k=k, block=64)  # several blocks of rows
    # the libraries round their shares to float32; 1e-6 is far below one image in 400 (0.0025)
    assert ours == pytest.approx(library_prdc(fake, real, k=k), abs=1e-6)
    assert ours == prdc(fake, real, k=k, real_radii=knn_radii(real, k))  # precomputed radii: the same


def test_known_answers_on_a_line():
    """Real points 0..9 on a line (k = 1: every real ball has radius 1). Fakes at 0.5, 2.5 and 30:
    two inside real balls, 30 in none."""
    real = np.arange(10.0)[:, None]
    fake = np.array([[0.5], [2.5], [30.0]])
    out = prdc(fake, real, k=1)
    assert out["precision"] == pytest.approx(2 / 3)
    # density: 0.5 lies strictly inside the balls of 0 and 1, 2.5 of 2 and 3 -> 4 / (1 · 3)
    assert out["density"] == pytest.approx(4 / 3)
    # coverage: the balls of 0, 1, 2 and 3 hold a fake
    assert out["coverage"] == pytest.approx(0.4)
    # recall: fake radii (k = 1) are 2 (0.5 to 2.5), 2 and 27.5; 30 ± 27.5 reaches 3..9, 0.5 ± 2 and
    # 2.5 ± 2 reach 0..4: all ten real points
    assert out["recall"] == pytest.approx(1.0)


def test_two_samples_of_one_distribution_read_near_one():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2000, 16)), rng.normal(size=(2000, 16))
    out = prdc(a, b)
    assert 0.9 < out["density"] < 1.1 and out["coverage"] > 0.9
    assert out["precision"] > 0.6 and out["recall"] > 0.6


def test_a_collapsed_generator_has_precision_but_no_recall():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(1000, 16))
    collapsed = real[:5].repeat(100, axis=0) + rng.normal(scale=1e-3, size=(500, 16))
    out = prdc(collapsed, real)
    assert out["precision"] == 1.0 and out["recall"] < 0.05 and out["coverage"] < 0.1


def test_too_few_images_for_k_give_nan():
    out = prdc(np.zeros((5, 4)), np.ones((100, 4)), k=5)
    assert all(np.isnan(v) for v in out.values())
    with pytest.raises(ValueError, match="need more than 5 features, found 3"):
        knn_radii(torch.zeros(3, 4))
