"""Random batches of real images for the training step, from the memory-mapped prepared split."""

from __future__ import annotations

import torch
from torch import Tensor

from ganlab.data.prepared import Split
from ganlab.distributed import SINGLE, World
from ganlab.sampling import to_float

# On a GPU the whole uint8 dataset is copied to device memory when it takes at most this share
# of what is free: gathering a batch there costs nothing. Larger sets stay memory-mapped on
# the host and each batch is gathered there and copied over.
DEVICE_SHARE = 0.25


class RealBatches:
    """`batch(n)`: n images (float, [-1, 1]) and their labels, drawn uniformly with replacement
    using the training RNG, so a resumed run draws the same indices. In a distributed run, n is
    the global batch and this rank gets its slice of it (`World.draw`)."""

    def __init__(
        self, split: Split, *, rng: torch.Generator, memory_format: torch.memory_format, world: World = SINGLE
    ) -> None:
        self.rng, self.memory_format, self.world = rng, memory_format, world
        self.device = rng.device
        images, labels = split.images, split.labels
        if self.device.type == "cuda" and images.nbytes <= DEVICE_SHARE * torch.cuda.mem_get_info(self.device)[0]:
            images, labels = images.to(self.device), labels.to(self.device)
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.images)

    def batch(self, n: int) -> tuple[Tensor, Tensor]:
        idx = self.world.draw(torch.randint(len(self.images), (n,), generator=self.rng, device=self.device))
        host = idx.to(self.images.device)
        images = self.images[host].to(self.device, non_blocking=True)
        labels = self.labels[host].to(self.device, non_blocking=True)
        return to_float(images).contiguous(memory_format=self.memory_format), labels
