import math

import pytest
import torch
from torch import nn

from ganlab.nn.losses import LOSSES, gradient_penalty, mode_seeking_penalty

REAL = torch.tensor([2.0, -0.5])
FAKE = torch.tensor([0.5, -3.0])


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_bce_by_hand():
    d = (softplus(-2.0) + softplus(0.5)) / 2 + (softplus(0.5) + softplus(-3.0)) / 2
    g = (softplus(-0.5) + softplus(3.0)) / 2
    assert LOSSES["bce"].d_loss(REAL, FAKE).item() == pytest.approx(d, rel=1e-6)
    assert LOSSES["bce"].g_loss(FAKE).item() == pytest.approx(g, rel=1e-6)


def test_hinge_by_hand():
    # relu(1-2)=0, relu(1+0.5)=1.5 -> 0.75; relu(1+0.5)=1.5, relu(1-3)=0 -> 0.75
    assert LOSSES["hinge"].d_loss(REAL, FAKE).item() == pytest.approx(1.5)
    assert LOSSES["hinge"].g_loss(FAKE).item() == pytest.approx(1.25)


def test_wasserstein_by_hand():
    # E[D(fake)] - E[D(real)] = -1.25 - 0.75
    assert LOSSES["wasserstein"].d_loss(REAL, FAKE).item() == pytest.approx(-2.0)
    assert LOSSES["wasserstein"].g_loss(FAKE).item() == pytest.approx(1.25)


def test_gradient_penalty_by_hand():
    # D(x) = w·x has gradient w everywhere: penalty = (||w|| - 1)^2 = (5 - 1)^2.
    linear = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[3.0, 4.0]]))
    critic = lambda x, y: linear(x.flatten(1)).flatten()  # noqa: E731
    real, fake = torch.randn(4, 2, 1, 1), torch.randn(4, 2, 1, 1)
    alpha = torch.rand(4, 1, 1, 1)
    assert gradient_penalty(critic, real, fake, None, alpha).item() == pytest.approx(16.0)


def test_lsgan_by_hand():
    # D: ½·mean((2-1)², (-0.5-1)²) + ½·mean(0.5², (-3)²) = ½·1.625 + ½·4.625
    assert LOSSES["lsgan"].d_loss(REAL, FAKE).item() == pytest.approx(0.5 * 1.625 + 0.5 * 4.625)
    # G: ½·mean((0.5-1)², (-3-1)²) = ½·8.125
    assert LOSSES["lsgan"].g_loss(FAKE).item() == pytest.approx(0.5 * 8.125)


def test_lsgan_gradients_push_towards_the_targets():
    real, fake = REAL.clone().requires_grad_(True), FAKE.clone().requires_grad_(True)
    LOSSES["lsgan"].d_loss(real, fake).backward()
    # dL/dD(x) = (D(x) - 1)/N on real, D(G(z))/N on fake: descent moves real to 1, fake to 0.
    torch.testing.assert_close(real.grad, (REAL - 1) / 2)
    torch.testing.assert_close(fake.grad, FAKE / 2)
    fake_g = FAKE.clone().requires_grad_(True)
    LOSSES["lsgan"].g_loss(fake_g).backward()
    torch.testing.assert_close(fake_g.grad, (FAKE - 1) / 2)


def test_mode_seeking_by_hand():
    # Pairs (rows 0, 1) and (2, 3): image gaps 0.5 and 0.1 per pixel, latent gaps 2 and 0.
    images = torch.tensor([[0.0, 0.0], [0.5, -0.5], [0.2, 0.2], [0.1, 0.3]])
    z = torch.tensor([[1.0], [-1.0], [0.0], [0.0]])
    # mean |image gap| = (0.5 + 0.5 + 0.1 + 0.1) / 4 = 0.3, mean |latent gap| = (2 + 0) / 2 = 1
    assert mode_seeking_penalty(images, z).item() == pytest.approx(1 / (0.3 + 1e-5))


def test_mode_seeking_gradient_pushes_each_pair_apart():
    images = torch.tensor([[0.0, 0.0], [0.5, -0.5]], requires_grad=True)
    mode_seeking_penalty(images, torch.tensor([[1.0], [-1.0]])).backward()
    gap = images[0] - images[1]
    # Descent moves row 0 away from row 1 and row 1 away from row 0.
    assert torch.all(-images.grad[0] * gap.detach() > 0) and torch.all(-images.grad[1] * -gap.detach() > 0)


def test_mode_seeking_needs_pairs():
    with pytest.raises(ValueError, match="even number of images"):
        mode_seeking_penalty(torch.zeros(3, 2), torch.zeros(3, 1))
