"""DiffAugment: what each policy does, that it is differentiable, and that it draws only from
the generator it is given."""

import pytest
import torch

from ganlab.config import DIFFAUG_POLICIES
from ganlab.distributed import SINGLE, World
from ganlab.nn.augment import AUGMENTATIONS, Draws, color, cutout, diff_augment, jitter_flip, translation


def _draws(x, seed, generator=None):
    return Draws(generator=generator or torch.Generator().manual_seed(seed), world=SINGLE, total=len(x))


def _images(n=6, size=16):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1


def test_registry_matches_the_config_names():
    assert tuple(AUGMENTATIONS) == DIFFAUG_POLICIES


@pytest.mark.parametrize("policy", DIFFAUG_POLICIES)
def test_each_policy_is_differentiable_and_seeded(policy):
    x = _images().requires_grad_(True)
    out = AUGMENTATIONS[policy](x, _draws(x, 1))
    assert out.shape == x.shape and not torch.equal(out, x)
    (out * torch.randn_like(out)).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    again = AUGMENTATIONS[policy](x.detach(), _draws(x.detach(), 1))
    assert torch.equal(again, out.detach())  # all randomness comes from the generator passed in


def test_translation_shifts_whole_images_and_fills_with_zeros():
    x = torch.arange(64.0).view(1, 1, 8, 8).repeat(50, 3, 1, 1) + 1  # no zeros in the input
    out = translation(x, _draws(x, 0))
    for img in out:
        inside = img[0] != 0
        rows, cols = inside.any(1).nonzero(), inside.any(0).nonzero()
        y0, x0 = int(rows[0]), int(cols[0])
        # What remains is one shifted copy: output (i, j) reads input (i + dy, j + dx).
        src = img[0][inside].view(int(inside.any(1).sum()), int(inside.any(0).sum()))
        dy, dx = int(src[0, 0] - 1) // 8 - y0, int(src[0, 0] - 1) % 8 - x0
        assert abs(dy) <= 1 and abs(dx) <= 1  # at most 1/8 of 8 pixels
        assert torch.equal(src, x[0, 0, y0 + dy : y0 + dy + src.shape[0], x0 + dx : x0 + dx + src.shape[1]])


def test_cutout_zeroes_one_square_of_half_the_size():
    x = torch.ones(200, 3, 8, 8)
    out = cutout(x, _draws(x, 0))
    holes = (out[:, 0] == 0).sum(dim=(1, 2))
    assert holes.max() == 16 and holes.min() >= 4  # 4×4, clipped at the border
    assert torch.equal(out[:, 0], out[:, 2])  # the same square in every channel


def test_color_changes_brightness_saturation_contrast_per_image():
    """Each of the three is observed on its own, so an augmentation doing only one would fail."""
    x = _images(n=200)
    out = color(x, _draws(x, 0))
    shift = (out - x).mean(dim=(1, 2, 3))
    assert shift.std() > 0.1  # brightness: a different shift per image
    # contrast scales each pixel's deviation from the image mean: on grey images (where saturation
    # has nothing to act on) the spread of each image changes by a factor in [0.5, 1.5)
    grey = x[:, :1].repeat(1, 3, 1, 1)
    out_grey = color(grey, _draws(grey, 0))
    assert torch.allclose(out_grey[:, 0], out_grey[:, 1], atol=1e-6)  # still grey
    contrast = out_grey.std(dim=(1, 2, 3)) / grey.std(dim=(1, 2, 3))
    assert 0.5 <= contrast.min() and contrast.max() < 1.5 and contrast.std() > 0.15
    # saturation scales each pixel's deviation from its grey value by a factor in [0, 2), on top of contrast
    def chroma(t):
        return (t - t.mean(dim=1, keepdim=True)).pow(2).sum(dim=(1, 2, 3)).sqrt()

    def luma(t):
        m = t.mean(dim=1)
        return (m - m.mean(dim=(1, 2), keepdim=True)).pow(2).sum(dim=(1, 2)).sqrt()

    saturation = (chroma(out) / chroma(x)) / (luma(out) / luma(x))
    assert 0.0 <= saturation.min() and saturation.max() < 2.0 and saturation.std() > 0.3


def test_policies_apply_in_order_from_one_generator():
    x = _images()
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    combined = diff_augment(x, ["color", "translation", "cutout"], generator=g1)
    draws = _draws(x, None, generator=g2)
    stepwise = cutout(translation(color(x, draws), draws), draws)
    assert torch.equal(combined, stepwise)
    assert torch.equal(diff_augment(x, [], generator=g1), x)


@pytest.mark.parametrize("size", [2, 3])
def test_each_rank_augments_its_slice_as_one_process_would(size):
    """Ranks draw for the whole global batch and keep their rows: the same augmented batch."""
    x, policies = _images(n=6), ["color", "translation", "cutout"]
    whole = diff_augment(x, policies, generator=torch.Generator().manual_seed(5))
    for rank in range(size):
        world = World(rank=rank, size=size)
        part = diff_augment(x[world.rows(6)], policies, generator=torch.Generator().manual_seed(5), world=world)
        assert torch.equal(part, whole[world.rows(6)])


def _distinct_images(n=6, size=8):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(3)) * 2 - 1


def test_jitter_and_flip_off_return_the_batch():
    x = _distinct_images()
    assert torch.equal(jitter_flip(x, scale=1.0, flip=False, generator=torch.Generator()), x)


def test_flip_mirrors_some_images_and_keeps_the_others():
    x = _distinct_images(n=32)
    y = jitter_flip(x, scale=1.0, flip=True, generator=torch.Generator().manual_seed(0))
    mirrored = [torch.equal(a, b.flip(2)) for a, b in zip(y, x)]
    kept = [torch.equal(a, b) for a, b in zip(y, x)]
    assert all(m != k for m, k in zip(mirrored, kept))  # each image: exactly one of the two
    assert 4 <= sum(mirrored) <= 28  # about half, drawn per image


def test_jitter_is_a_random_crop_of_the_resized_image():
    x = _distinct_images(n=16, size=32)
    y = jitter_flip(x, scale=286 / 256, flip=False, generator=torch.Generator().manual_seed(0))
    assert y.shape == x.shape
    big = torch.nn.functional.interpolate(x, size=(36, 36), mode="bicubic", align_corners=False).clamp(-1, 1)
    offsets = []
    for a, b in zip(y, big):  # each output is one 32 x 32 window of its resized image
        windows = [(i, j) for i in range(5) for j in range(5) if torch.equal(a, b[:, i : i + 32, j : j + 32])]
        assert len(windows) == 1
        offsets += windows
    assert len(set(offsets)) > 4  # the window is drawn per image
    again = jitter_flip(x, scale=286 / 256, flip=False, generator=torch.Generator().manual_seed(0))
    assert torch.equal(y, again)  # from the generator alone
