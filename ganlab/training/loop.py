"""One resumable training loop for every registered model family (ganlab.training.families): the
loop resumes, iterates, logs and checkpoints; each family owns its iteration (`Trainer.step`)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import torch
from tqdm import tqdm

from ganlab.config import TrainConfig
from ganlab.data.prepared import load_split
from ganlab.distributed import SINGLE, World, barrier, join, reduced
from ganlab.errors import GanlabError
from ganlab.io import atomic_torch_save
from ganlab.sampling import resolve_device
from ganlab.training.checkpoints import list_snapshots, run_config, snapshot_path
from ganlab.training.device import set_device_flags, warn_emulated_bf16
from ganlab.training.families import Trainer, family_of
from ganlab.training.live import TrainingLive
from ganlab.training.resume import resume
from ganlab.training.state import TrainState
from ganlab.viz.grids import grid_image

PREVIEW_PER_ROW = 8


def build_trainer(
    name: str, cfg: TrainConfig, *, seed: int, device: torch.device, splits: list, world: World = SINGLE
) -> Trainer:
    # a translation section names its family in `model` (cyclegan | cut); the others are their family
    family = family_of(getattr(cfg, "model", name))
    roles = family.data_roles
    if len(splits) != len(roles):
        raise GanlabError(f"{name} trains on {len(roles)} prepared split(s) ({', '.join(roles)}), given {len(splits)}")
    return family(name=name, cfg=cfg, splits=splits, seed=seed, device=device, world=world)


def _data_digest(splits: list) -> str:
    if len(splits) == 1:
        return splits[0].digest
    return hashlib.sha256("|".join(s.digest for s in splits).encode()).hexdigest()


class LogWindow:
    """The stats of the iterations since the last log row, summed on the device (no host sync
    until a log or checkpoint point), and the first iteration whose losses were not finite."""

    def __init__(self, trainer: Trainer, world: World) -> None:
        self.trainer, self.state, self.world = trainer, trainer.state, world
        state = self.state
        device = state.rng.device
        self.sums = torch.zeros(len(trainer.stats), device=device)
        self.first_bad = torch.full((), -1, dtype=torch.long, device=device)
        self.iteration = torch.full((), state.iteration, dtype=torch.long, device=device)
        self.count, self.start = 0, state.elapsed

    @torch.no_grad()
    def add(self, stats: torch.Tensor) -> None:
        self.iteration += 1
        self.sums += stats
        bad = ~torch.isfinite(stats[:2]).all()
        self.first_bad = torch.where(bad & (self.first_bad < 0), self.iteration, self.first_bad)
        self.count += 1

    def check_finite(self, name: str, out_dir: Path) -> None:
        """The NaN guard: stop at the first non-finite loss on any rank, naming the last good checkpoint."""
        bad_at = int(reduced(self.first_bad, self.world, op="max"))
        if bad_at >= 0:
            kept = list_snapshots(out_dir / "checkpoints")
            raise GanlabError(
                f"{name}: non-finite loss at iteration {bad_at}; training stopped. "
                f"Last good checkpoint: {kept[-1] if kept else 'none'} (lower the learning rates or change the loss)"
            )

    def row(self) -> dict[str, float]:
        """One log row (the window's mean stats over every rank, the learning rates, the family's
        own values, the speed), and a new window."""
        state = self.state
        means = (reduced(self.sums, self.world) / (self.count * self.world.size)).tolist()
        row = dict(zip(self.trainer.stats, means))
        for key, opt in state.optimizers.items():  # an fp32 tensor: logged to its 7 digits
            row[f"lr_{key.removeprefix('opt_')}"] = float(f"{float(opt.param_groups[0]['lr']):.7g}")
        row.update({key: value.item() for key, value in self.trainer.log_values().items()})
        row.update(it_per_s=self.count / max(state.elapsed - self.start, 1e-9), seconds=state.elapsed)
        self.sums.zero_()
        self.count, self.start = 0, state.elapsed
        return row


class Checkpoints:
    """What a checkpoint point writes: the snapshot that scoring reads (rank 0), then `last.pt`,
    the state that resumes. Snapshot first: a kill between the two only repeats work on resume."""

    def __init__(self, trainer: Trainer, out_dir: Path, *, name: str, config: dict, seed: int, world: World) -> None:
        self.trainer, self.out_dir, self.name, self.config, self.seed = trainer, out_dir, name, config, seed
        self.world = world

    def snapshot(self, iteration: int):
        """Writes the snapshot; returns its preview grid (rank 0) or None."""
        state = self.trainer.state
        if not all(bool(torch.isfinite(p).all()) for net in state.nets.values() for p in net.parameters()):
            raise GanlabError(f"{self.name}: non-finite weights at iteration {iteration}; training stopped")
        if not self.world.is_main:
            return None
        path = snapshot_path(self.out_dir / "checkpoints", iteration)
        self.trainer.save_snapshot(path, config=self.config, iteration=iteration, seed=self.seed)
        return grid_image(self.trainer.preview(path, seed=self.seed), nrow=PREVIEW_PER_ROW)

    def save_last(self) -> None:
        if self.world.is_main:
            atomic_torch_save(self.trainer.state.state_dict(self.config), self.out_dir / "last.pt")


class _NoLog:
    """What ranks other than 0, and runs without a live directory, log to."""

    def log(self, iteration: int, metrics: dict, *, preview=None) -> None:
        pass

    def close(self) -> None:
        pass


def train(
    name: str,
    cfg: TrainConfig,
    *,
    seed: int,
    device: str,
    data_paths: list[str | Path],
    out_dir: str | Path,
    live_dir: str | Path | None,
    progress: bool = True,
) -> TrainState:
    """Train model `name` to `cfg.iterations`, resuming from `out_dir/last.pt` when possible,
    logging to the DVCLive directory `live_dir` (ganlab.training.live), or nowhere for None
    (studies that read only the checkpoints).

    Under torchrun each worker trains its slice of every batch (ganlab.distributed); rank 0
    alone logs and writes checkpoints, which are those of a single-process run.

    `data_paths`: the prepared training split(s) the model family takes (its `data_roles`)."""
    world, dev = join(resolve_device(device))
    set_device_flags(dev)
    out_dir = Path(out_dir)
    if world.is_main:
        warn_emulated_bf16(name, cfg, dev)
    splits = [load_split(path) for path in data_paths]
    trainer = build_trainer(name, cfg, seed=seed, device=dev, splits=splits, world=world)
    state = trainer.state
    config = run_config(name, cfg, seed=seed, data_digest=_data_digest(splits), resolution=splits[0].resolution)

    resume(out_dir, config, cfg.iterations, state, world)
    live = TrainingLive(live_dir, resume_at=state.iteration) if world.is_main and live_dir else _NoLog()
    if state.iteration >= cfg.iterations:
        if world.is_main:
            print(f"{name}: already trained to iteration {state.iteration}")
        live.close()
        return state

    for net in state.nets.values():
        net.train()
    window = LogWindow(trainer, world)
    checkpoints = Checkpoints(trainer, out_dir, name=name, config=config, seed=seed, world=world)
    start_time = time.perf_counter() - state.elapsed
    bar = tqdm(total=cfg.iterations, initial=state.iteration, desc=name, mininterval=2.0,
               disable=not (progress and world.is_main))  # fmt: skip
    try:
        while state.iteration < cfg.iterations:
            window.add(trainer.step())
            state.iteration += 1
            bar.update(1)
            it = state.iteration
            at_log, at_ckpt = it % cfg.log_every == 0, it % cfg.ckpt_every == 0 or it == cfg.iterations
            if not (at_log or at_ckpt):
                continue
            window.check_finite(name, out_dir)
            state.elapsed = time.perf_counter() - start_time
            row = window.row() if at_log else {}
            if row:
                bar.set_postfix(loss_d=f"{row['loss_d']:.3f}", loss_g=f"{row['loss_g']:.3f}", refresh=False)
            preview = checkpoints.snapshot(it) if at_ckpt else None
            # Logged before last.pt moves on: a kill in between leaves rows past last.pt, which the
            # resumed run drops (trim_history), never a gap.
            live.log(it, row, preview=preview)
            if at_ckpt:
                checkpoints.save_last()
    finally:
        bar.close()
    live.close()
    barrier(world)  # last.pt is written before any worker reports success
    return state
