"""Several processes (torchrun) for training, FID and report, as the same experiment as one.

A stage asked for `distributed.nproc_per_node` > 1 re-runs itself under torch.distributed.run
(`relaunch`); under torchrun (one machine or several) it is already a worker. Each worker joins
the process group (NCCL on CUDA, gloo on CPU) and takes one GPU per local rank, or an even share
of the CPU threads.

What keeps a run with W processes the experiment of one process, as in StyleGAN2-ADA:
- `batch_size` is the global batch. Every rank draws the whole batch's random numbers from the
  one training RNG, seeded alike, and keeps its own rows (`World.draw`), so rank r sees exactly the
  r-th slice of what one process would see, and the RNG streams never diverge.
- Gradients are averaged over ranks before every optimizer step (`average_gradients`), which on
  equal slices is the gradient of the global batch's mean loss.
- BatchNorm takes its statistics over the global batch (ganlab.nn.layers.BatchNorm2d with sync on).
- Spectral norm's u and v, and the EMA, are functions of weights that stay identical on every
  rank, so they stay identical too.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor

from ganlab.errors import GanlabError

# The environment torchrun gives each worker.
WORKER_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")


@dataclass(frozen=True, kw_only=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def rows(self, n: int, *, what: str = "batch_size") -> slice:
        """This rank's rows of a global batch of `n`."""
        if n % self.size:
            raise GanlabError(
                f"{what}={n} does not split evenly over {self.size} processes (distributed.nproc_per_node × nodes); "
                f"use a multiple of {self.size}"
            )
        per = n // self.size
        return slice(self.rank * per, (self.rank + 1) * per)

    def draw(self, values: Tensor) -> Tensor:
        """This rank's rows of random numbers drawn for the whole global batch."""
        return values[self.rows(len(values))]

    def deals(self, index: int) -> bool:
        """Whether batch `index` of an evaluation is this rank's: batches are dealt round-robin, so
        every rank has work while any is left, whatever the number of batches."""
        return index % self.size == self.rank


SINGLE = World()


def relaunch(nproc_per_node: int, max_restarts: int) -> bool:
    """Run this script (same arguments) under torch.distributed.run with `nproc_per_node` workers
    on this machine, and return True once they have all finished; False (nothing done) when one
    process was asked for or this already is a torchrun worker.

    A worker that dies makes torchrun stop the others and start them all again, up to
    `max_restarts` times; they resume from the last checkpoint."""
    if nproc_per_node == 1 or "LOCAL_RANK" in os.environ:
        return False
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    launcher = ["--standalone", f"--nproc-per-node={nproc_per_node}", f"--max-restarts={max_restarts}"]
    parser = get_args_parser()
    parser.allow_abbrev = False  # or the script's own `--nproc` or `--log` reads as an abbreviated torchrun flag
    try:
        run(parser.parse_args([*launcher, sys.argv[0], *sys.argv[1:]]))
    except ChildFailedError as e:
        raise GanlabError(
            f"{sys.argv[0]}: {nproc_per_node} processes failed after {max_restarts} restart(s) "
            f"(distributed.max_restarts): {e.get_first_failure()[1].message}. Completed checkpoints are kept; "
            "`dvc repro` resumes from the last one"
        ) from None
    return True


def join(device: torch.device) -> tuple[World, torch.device]:
    """Join the process group when run by torchrun (else the single-process world) and pick
    this worker's device: `cuda:<local rank>` when `device` is CUDA, else the CPU with
    1/local_size of its threads."""
    if "RANK" not in os.environ:
        return SINGLE, device
    world = World(**{f: int(os.environ[e]) for f, e in zip(("rank", "size", "local_rank", "local_size"), WORKER_ENV)})
    if device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    else:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world.local_size))
    if world.distributed and not dist.is_initialized():
        # torchrun's agent keeps one store across restarts and the process group's keys carry no
        # attempt number, so restarted workers can read their predecessors' (dead) addresses and
        # hang (seen with gloo on torch 2.14). One key prefix per attempt keeps them apart.
        store, _, _ = next(dist.rendezvous("env://"))
        store = dist.PrefixStore(f"ganlab/attempt_{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}", store)
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(
            backend,
            store=store,
            rank=world.rank,
            world_size=world.size,
            device_id=device if backend == "nccl" else None,
        )
        if world.is_main:
            print(f"torchrun: {world.size} processes ({backend}), rank 0 on {device}", flush=True)
    return world, device


@torch.no_grad()
def average_gradients(params: list[torch.nn.Parameter], world: World) -> None:
    """Mean of every gradient over the ranks, in one flat all-reduce (StyleGAN2-ADA's way).

    Every rank runs the same code, so the same parameters have a gradient on every rank;
    those without one stay without (Adam skips them, as in one process)."""
    if not world.distributed:
        return
    grads = [p.grad for p in params if p.grad is not None]
    flat = torch.cat([g.flatten() for g in grads])
    dist.all_reduce(flat)
    flat /= world.size
    for g, mean in zip(grads, flat.split([g.numel() for g in grads])):
        g.copy_(mean.view_as(g))


def reduced(values: Tensor, world: World, op: str = "sum") -> Tensor:
    """A copy of `values` summed (or maxed) over the ranks."""
    values = values.clone()
    if world.distributed:
        dist.all_reduce(values, op=dist.ReduceOp.SUM if op == "sum" else dist.ReduceOp.MAX)
    return values


def gather_to_main(part: object, world: World) -> list | None:
    """Every rank's `part`, in rank order, on rank 0 (None elsewhere)."""
    if not world.distributed:
        return [part]
    parts = [None] * world.size if world.is_main else None
    dist.gather_object(part, parts, dst=0)
    return parts


def gather_batches(mine: list[np.ndarray], world: World) -> np.ndarray | None:
    """The rows of every batch dealt by `World.deals`, reassembled in batch order on rank 0 (None
    elsewhere): the array one process would have computed alone."""
    parts = gather_to_main(mine, world)
    if parts is None:
        return None
    batches = sum(len(p) for p in parts)
    return np.concatenate([parts[i % world.size][i // world.size] for i in range(batches)])


def from_main(value: object, world: World) -> object:
    """Rank 0's `value` on every rank, so all ranks act on one decision (e.g. which checkpoints
    are still to score) even if they would have read a file at different moments."""
    if not world.distributed:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()
