"""Grid pictures: the layout of torchvision's make_grid, which training no longer imports."""

import pytest
import torch
from torchvision.utils import make_grid

from ganlab.viz.grids import grid_image, tile


@pytest.mark.parametrize(("n", "nrow"), [(2, 8), (7, 3), (10, 10), (64, 8), (13, 5)])
def test_tile_lays_out_images_as_make_grid(n, nrow):
    images = torch.randint(0, 256, (n, 3, 6, 5), dtype=torch.uint8, generator=torch.Generator().manual_seed(n))
    assert torch.equal(tile(images, nrow=nrow), make_grid(images, nrow=nrow, padding=2, pad_value=255))


def test_grid_image_upscales_to_128_pixels_an_image():
    images = torch.zeros(4, 3, 32, 32, dtype=torch.uint8)
    assert grid_image(images, nrow=2).size == (2 * 34 * 4 + 2 * 4, 2 * 34 * 4 + 2 * 4)
