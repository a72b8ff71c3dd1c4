"""CycleGAN's history of generated images (Shrivastava et al. 2017, as in Zhu et al.'s code):
D is trained on a mix of current and past translations, so it does not chase G's latest output.

The reference's rule, per image of the batch: while the pool has room, store the image and
return it; once full, with probability ½ return a random stored image and put the new one in its
place, otherwise return the new image. The pool's contents and the training RNG both go into
`last.pt`, so a resumed run draws and returns the same images as an uninterrupted one.
"""

from __future__ import annotations

import torch
from torch import Tensor


class ImagePool:
    """`query(images)`: the batch D sees, of the same shape. `size` 0 returns the images as they are."""

    def __init__(self, *, size: int, generator: torch.Generator) -> None:
        self.size, self.generator = size, generator
        self.images: Tensor | None = None  # [size, C, H, W] once the first batch arrived
        self.count = 0  # how many slots are filled

    @torch.no_grad()
    def query(self, images: Tensor) -> Tensor:
        if self.size == 0:
            return images
        images = images.detach()
        if self.images is None:
            self.images = images.new_zeros((self.size, *images.shape[1:]))
        n = len(images)
        # Drawn for every image, used or not, so the RNG advances by the same amount each step.
        swap = torch.rand(n, generator=self.generator, device=self.generator.device) < 0.5
        slot = torch.randint(self.size, (n,), generator=self.generator, device=self.generator.device)
        out = images.clone()
        for i, (do_swap, j) in enumerate(zip(swap.tolist(), slot.tolist())):
            if self.count < self.size:  # filling: keep it, return it
                self.images[self.count] = images[i]
                self.count += 1
            elif do_swap:  # return an old one, keep the new one in its place
                out[i] = self.images[j]
                self.images[j] = images[i]
        return out

    def state_dict(self) -> dict:
        return {"size": self.size, "count": self.count, "images": self.images}

    def load_state_dict(self, state: dict) -> None:
        if state["size"] != self.size:
            raise ValueError(f"image pool: saved size {state['size']}, configured {self.size}")
        self.count = int(state["count"])
        self.images = None if state["images"] is None else state["images"].to(self.generator.device).clone()
