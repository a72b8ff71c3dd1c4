"""`<model>.graph: true`: a training update replayed as one CUDA graph (PyTorch's "whole-network
capture"), so a small model's step costs one launch instead of hundreds of kernel launches and
the Python that issues them.

What makes an update capturable is in the update itself (ganlab.training.gan.GANStep): device
tensors for everything that changes between steps (learning rates, the EMA weight), spectral
norm's vectors updated in place, a device RNG, static shapes and no host syncs. Here: the first
`warmup` calls run eagerly on a side stream (they are real training steps, and they create
Adam's state and cuDNN's plans before capture); the next call records the update into a graph,
registering the training RNG so that every replay draws fresh numbers from it, and replays it;
every later call replays it. Only on CUDA: `NoiseGAN` refuses it on any other device.
"""

from __future__ import annotations

from typing import Callable

import torch


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
