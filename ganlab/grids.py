"""uint8 image batches -> one grid picture; shared by training's live previews and `render`."""

from __future__ import annotations

from PIL import Image
from torch import Tensor
from torchvision.utils import make_grid


def grid_image(images: Tensor, *, nrow: int, scale: int | None = None) -> Image.Image:
    """uint8 N×3×H×W -> one PIL image, upscaled with nearest neighbour (no invented detail):
    by default to 128 pixels an image (×4 at 32, ×2 at 64, ×1 at 128)."""
    scale = scale or max(1, 128 // images.shape[-1])
    grid = make_grid(images.cpu(), nrow=nrow, padding=2, pad_value=255)
    image = Image.fromarray(grid.permute(1, 2, 0).numpy())
    return image.resize((image.width * scale, image.height * scale), Image.NEAREST)
