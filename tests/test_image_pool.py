"""CycleGAN's image pool: the reference's rule, and its state surviving a save and load."""

import torch

from ganlab.training.image_pool import ImagePool


def _batches(n_batches, batch=4):
    g = torch.Generator().manual_seed(1)
    return [torch.rand(batch, 3, 4, 4, generator=g) for _ in range(n_batches)]


def test_size_zero_returns_the_batch():
    x = _batches(1)[0]
    assert ImagePool(size=0, generator=torch.Generator()).query(x) is x


def test_filling_returns_the_new_images_and_keeps_them_in_order():
    pool = ImagePool(size=8, generator=torch.Generator().manual_seed(0))
    first, second = _batches(2)
    assert torch.equal(pool.query(first), first) and torch.equal(pool.query(second), second)
    assert pool.count == 8 and torch.equal(pool.images, torch.cat([first, second]))


def test_a_full_pool_swaps_about_half_the_images_for_stored_ones():
    pool = ImagePool(size=8, generator=torch.Generator().manual_seed(0))
    batches = _batches(400, batch=1)  # one at a time: each query sees the pool the last one left
    swapped = 0
    for x in batches:
        before = pool.images.clone() if pool.images is not None else None
        full = pool.count == pool.size
        out = pool.query(x)
        for i in range(len(x)):
            if torch.equal(out[i], x[i]):
                continue
            assert full and any(torch.equal(out[i], old) for old in before)  # an image from before
            assert any(torch.equal(x[i], kept) for kept in pool.images)  # the new one took its slot
            swapped += 1
    n_full = len(batches) - 8
    assert 0.4 < swapped / n_full < 0.6


def test_state_dict_continues_the_same_draws():
    batches = _batches(12)
    straight = ImagePool(size=8, generator=torch.Generator().manual_seed(0))
    outs = [straight.query(x) for x in batches]
    first = ImagePool(size=8, generator=torch.Generator().manual_seed(0))
    for x in batches[:5]:
        first.query(x)
    saved, rng = first.state_dict(), first.generator.get_state()
    resumed = ImagePool(size=8, generator=torch.Generator())
    resumed.load_state_dict(saved), resumed.generator.set_state(rng)
    for x, expected in zip(batches[5:], outs[5:]):
        assert torch.equal(resumed.query(x), expected)


def _per_image(pool: torch.Tensor, images, swap, slot):
    """The reference's rule on a full pool, one image after another."""
    pool, out = pool.clone(), images.clone()
    for i, (do_swap, j) in enumerate(zip(swap.tolist(), slot.tolist())):
        if do_swap:
            out[i], pool[j] = pool[j].clone(), images[i]
    return out, pool


def test_a_full_pool_answers_a_batch_at_once_as_the_rule_does_image_by_image():
    """Batches of 16 into 3 slots: most swaps share a slot with an earlier one of their batch,
    whose image they must get back, and the slot must end with the last one."""
    g = torch.Generator().manual_seed(2)
    pool = ImagePool(size=3, generator=torch.Generator().manual_seed(0))
    pool.query(torch.rand(3, 3, 4, 4, generator=g))  # filled
    assert pool.full
    chains = 0
    for _ in range(50):
        x = torch.rand(16, 3, 4, 4, generator=g)
        before, rng = pool.images.clone(), pool.generator.get_state()
        swap = torch.rand(16, generator=pool.generator) < 0.5  # the draws query makes
        slot = torch.randint(3, (16,), generator=pool.generator)
        pool.generator.set_state(rng)
        expected_out, expected_pool = _per_image(before, x, swap, slot)
        assert torch.equal(pool.query(x), expected_out) and torch.equal(pool.images, expected_pool)
        chains += int(swap.sum()) - len(set(slot[swap].tolist()))
    assert chains > 100  # the case the batch form exists for was exercised
