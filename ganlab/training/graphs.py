"""`<model>.graph: true`: a training update replayed as one CUDA graph (PyTorch's "whole-network
capture"), so a small model's step costs one launch instead of hundreds of kernel launches and
the Python that issues them.

What makes an update capturable is in the update itself (ganlab.training.gan.GANStep): device
tensors for everything that changes between steps (learning rates, the EMA weight), spectral
norm's vectors updated in place, a device RNG, static shapes and no host syncs. Here: the first
`warmup` calls run eagerly on a side stream (they are real training steps, and they create
Adam's state and cuDNN's plans before capture); the next call records the update into a graph,
registering the training RNG so that every replay draws fresh numbers from it, and replays it;
every later call replays it. Only on CUDA: `check_graph_device` refuses any other device before
anything is built.
"""

from __future__ import annotations

from typing import Callable

import torch

from ganlab.config import TrainConfig
from ganlab.errors import GanlabError
from ganlab.training.batches import DEVICE_SHARE, RealBatches


def check_graph_device(name: str, cfg: TrainConfig, device: torch.device) -> None:
    if cfg.graph and device.type != "cuda":
        raise GanlabError(
            f"{name}.graph=true captures the training step as CUDA graphs and needs a CUDA device; "
            f"found {device}. Set {name}.graph=false (`-S {name}.graph=false`) to train here"
        )


def check_graph_batches(name: str, cfg: TrainConfig, batches: RealBatches) -> None:
    """`graph: true` replays a captured step whose real batch is gathered on the device; a training
    set too large for device memory (RealBatches keeps it on the host) cannot be captured."""
    if cfg.graph and batches.images.device != batches.device:
        gib = batches.images.nbytes / 2**30
        raise GanlabError(
            f"{name}.graph=true needs the training set in GPU memory, but this one ({gib:.1f} GiB) is above "
            f"{DEVICE_SHARE:.0%} of the free GPU memory and stays on the host; set {name}.graph=false"
        )


class CapturedStep:
    """`fn` (an update returning tensors) as a CUDA graph after `warmup` eager calls."""

    def __init__(self, fn: Callable, *, generator: torch.Generator, warmup: int = 3) -> None:
        self.fn, self.generator, self.warmup = fn, generator, warmup
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.outputs = None
        self.stream: torch.cuda.Stream | None = None

    def __call__(self):
        if self.graph is None and self.calls < self.warmup:
            self.calls += 1
            self.stream = self.stream or torch.cuda.Stream()
            self.stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(self.stream):
                out = self.fn()
            torch.cuda.current_stream().wait_stream(self.stream)
            return out
        if self.graph is None:
            self.graph = torch.cuda.CUDAGraph()
            self.graph.register_generator_state(self.generator)
            with torch.cuda.graph(self.graph):
                self.outputs = self.fn()
        self.graph.replay()
        return self.outputs
