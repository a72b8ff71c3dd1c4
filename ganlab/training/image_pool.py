"""CycleGAN's history of generated images (Shrivastava et al. 2017, as in Zhu et al.'s code):
D is trained on a mix of current and past translations, so it does not chase G's latest output.

The reference's rule, per image of the batch in order: while the pool has room, store the image
and return it; once full, with probability ½ return a random stored image and put the new one in
its place, otherwise return the new image. The pool's contents and the training RNG both go into
`last.pt`, so a resumed run draws and returns the same images as an uninterrupted one.

Once the pool is full, `query` applies that rule to the whole batch at once on the device (no
host sync, static shapes, the pool updated in place), so a step that queries it can be captured
as a CUDA graph; it returns exactly what the per-image rule returns (tests/test_image_pool.py).
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

    @property
    def full(self) -> bool:
        return self.count == self.size

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
        if self.full:
            return self._swap(images, swap, slot)
        out = images.clone()
        for i, (do_swap, j) in enumerate(zip(swap.tolist(), slot.tolist())):
            if self.count < self.size:  # filling: keep it, return it
                self.images[self.count] = images[i]
                self.count += 1
            elif do_swap:  # return an old one, keep the new one in its place
                out[i] = self.images[j]
                self.images[j] = images[i]
        return out

    def _swap(self, images: Tensor, swap: Tensor, slot: Tensor) -> Tensor:
        """The per-image rule on a full pool, for the whole batch at once. Image i, if it swaps
        into slot j, gets what slot j held just before it: the image of the last earlier swap
        into j in this batch, or else the pool's entry; slot j ends with the last swap into it."""
        n = len(images)
        order = torch.arange(n, device=images.device)
        # same[i, k]: images i and k both swap, into the same slot
        same = swap[:, None] & swap[None, :] & (slot[:, None] == slot[None, :])
        earlier = torch.where(same & (order[None, :] < order[:, None]), order[None, :], -1).amax(dim=1)
        held = torch.where((earlier >= 0)[:, None, None, None], images[earlier.clamp(min=0)], self.images[slot])
        out = torch.where(swap[:, None, None, None], held, images)
        # slot j's last writer in this batch, -1 where nobody swaps into it
        writes = swap[:, None] & (slot[:, None] == torch.arange(self.size, device=images.device)[None, :])
        last = torch.where(writes, order[:, None], -1).amax(dim=0)
        self.images.copy_(torch.where((last >= 0)[:, None, None, None], images[last.clamp(min=0)], self.images))
        return out

    def state_dict(self) -> dict:
        return {"size": self.size, "count": self.count, "images": self.images}

    def load_state_dict(self, state: dict) -> None:
        if state["size"] != self.size:
            raise ValueError(f"image pool: saved size {state['size']}, configured {self.size}")
        self.count = int(state["count"])
        self.images = None if state["images"] is None else state["images"].to(self.generator.device).clone()
