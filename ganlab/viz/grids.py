"""uint8 image batches -> one grid picture; shared by training's live previews and `render`."""

from __future__ import annotations

import math

from PIL import Image
from torch import Tensor

PADDING = 2


def tile(images: Tensor, *, nrow: int, pad_value: int = 255) -> Tensor:
    """N×C×H×W -> C×H'×W': `nrow` images a row, PADDING pixels of `pad_value` around each (the
    layout of torchvision's make_grid, without importing torchvision: importing it pulls in
    torch._dynamo, seconds on a CPU, for stages such as `render` that need nothing else of it)."""
    n, c, h, w = images.shape
    cols = min(nrow, n)
    rows = math.ceil(n / cols)
    grid = images.new_full((c, rows * (h + PADDING) + PADDING, cols * (w + PADDING) + PADDING), pad_value)
    for k in range(n):
        y, x = divmod(k, cols)
        top, left = y * (h + PADDING) + PADDING, x * (w + PADDING) + PADDING
        grid[:, top : top + h, left : left + w] = images[k]
    return grid


def grid_image(images: Tensor, *, nrow: int, scale: int | None = None) -> Image.Image:
    """uint8 N×3×H×W -> one PIL image, upscaled with nearest neighbour (no invented detail):
    by default to 128 pixels an image (×4 at 32, ×2 at 64, ×1 at 128)."""
    scale = scale or max(1, 128 // images.shape[-1])
    grid = tile(images.cpu(), nrow=nrow)
    image = Image.fromarray(grid.permute(1, 2, 0).numpy())
    return image.resize((image.width * scale, image.height * scale), Image.NEAREST)
