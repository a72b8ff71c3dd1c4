"""One resumable training loop for every model in TRAINERS: the loop owns resume, logging,
checkpoints and the NaN guard; each model family owns its iteration (`Trainer.step`)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import torch
from torch import Tensor
from tqdm import tqdm

from ganlab.config import TrainConfig
from ganlab.data.prepared import load_split
from ganlab.distributed import SINGLE, World, barrier, join, reduced
from ganlab.errors import GanlabError
from ganlab.grids import grid_image
from ganlab.io import atomic_torch_save, load_checkpoint
from ganlab.layers import attention_gammas
from ganlab.sampling import resolve_device
from ganlab.training.checkpoints import (
    list_snapshots,
    resume_mismatch,
    run_config,
    snapshot_iteration,
    snapshot_path,
)
from ganlab.training.cyclegan import CycleGAN
from ganlab.training.gan import NoiseGAN
from ganlab.training.live import TrainingLive
from ganlab.training.state import Trainer, TrainState

# params section -> its model family; `data` holds one prepared split per entry of DATA_ROLES.
TRAINERS: dict[str, type] = {"dcgan": NoiseGAN, "sagan": NoiseGAN, "cyclegan": CycleGAN}
DATA_ROLES = {NoiseGAN: ("training images",), CycleGAN: ("domain A", "domain B")}
NET_PREFIX = {"generator": "g", "discriminator": "d"}
PREVIEW_PER_ROW = 8


def _gamma_columns(state: TrainState) -> dict[str, Tensor]:
    gammas = {}
    for key, net in state.nets.items():
        for module_name, gamma in attention_gammas(net).items():
            gammas[f"gamma_{NET_PREFIX.get(key, key)}_{module_name.replace('.', '_')}"] = gamma
    return gammas


def _all_finite(state: TrainState) -> bool:
    return all(bool(torch.isfinite(p).all()) for net in state.nets.values() for p in net.parameters())


def _data_digest(splits: list) -> str:
    if len(splits) == 1:
        return splits[0].digest
    return hashlib.sha256("|".join(s.digest for s in splits).encode()).hexdigest()


BEYOND = "beyond_iterations"  # snapshots past a lowered `iterations`, kept for when it rises again


def _prepare_output(out_dir: Path, config: dict, iterations: int, state: TrainState, world: World) -> None:
    """Resume from last.pt when it trained the same thing as `config` (resume_mismatch); nothing
    already trained is deleted. A lowered `iterations` keeps last.pt and the snapshots it covers
    and moves the later ones into checkpoints/beyond_iterations/ (back again when it rises). A run
    that really changed moves its checkpoints and last.pt aside and starts fresh. Every rank reads
    the same last.pt; rank 0 alone moves files."""
    last, folder = out_dir / "last.pt", out_dir / "checkpoints"
    if last.exists():
        saved = load_checkpoint(last)
        mismatch = resume_mismatch(saved.get("config", {}), config)
        if not mismatch:
            state.load_state_dict(saved)
            if world.is_main:
                _shelve_beyond(folder, iterations)
                print(f"resuming from {last} at iteration {state.iteration}")
                if state.iteration > iterations:
                    print(f"note: iterations={iterations} is below last.pt's {state.iteration}: the snapshots up to "
                          f"{iterations} stay, later ones are in {folder / BEYOND} (raise iterations to continue)")
            return
        why = f"config changed ({'; '.join(mismatch)})"
    else:
        why = "no last.pt beside these snapshots"
    barrier(world)  # every rank has read last.pt before it goes
    if world.is_main and (last.exists() or list_snapshots(folder)):
        aside = out_dir.with_name(f"{out_dir.name}.set-aside") / time.strftime("%Y%m%dT%H%M%S")
        print(f"{why}: starting fresh; the earlier checkpoints are moved to {aside}")
        aside.mkdir(parents=True, exist_ok=True)
        if folder.exists():
            folder.rename(aside / "checkpoints")
        if last.exists():
            last.rename(aside / "last.pt")


def _shelve_beyond(folder: Path, iterations: int) -> None:
    """Snapshots past `iterations` into folder/BEYOND, and those back from it that it covers again."""
    beyond = folder / BEYOND
    for path in list_snapshots(folder):
        if snapshot_iteration(path) > iterations:
            beyond.mkdir(exist_ok=True)
            path.rename(beyond / path.name)
    for path in list_snapshots(beyond):
        if snapshot_iteration(path) <= iterations:
            path.rename(folder / path.name)


def build_trainer(
    name: str, cfg: TrainConfig, *, seed: int, device: torch.device, splits: list, world: World = SINGLE
) -> Trainer:
    family = TRAINERS[name]
    roles = DATA_ROLES[family]
    if len(splits) != len(roles):
        raise GanlabError(f"{name} trains on {len(roles)} prepared split(s) ({', '.join(roles)}), given {len(splits)}")
    return family(name=name, cfg=cfg, splits=splits, seed=seed, device=device, world=world)


BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_bf16_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> set[str]:
    """Which of BF16_FLAGS the CPU reports (empty where /proc/cpuinfo is missing)."""
    try:
        words = set(Path(cpuinfo).read_text().split())
    except OSError:
        return set()
    return words & set(BF16_FLAGS)


def warn_emulated_bf16(
    name: str, cfg: TrainConfig, device: torch.device, cpuinfo: str | Path = "/proc/cpuinfo"
) -> bool:
    """bf16 on a CPU without native bf16 is emulated, and far slower than fp32: say so once, with
    the measured cost, before training starts. Returns whether it warned."""
    if cfg.precision != "bf16" or device.type != "cpu" or cpu_bf16_flags(cpuinfo):
        return False
    print(
        f"warning: {name}.precision=bf16 on a CPU without native bf16 (neither {' nor '.join(BF16_FLAGS)} in "
        f"{cpuinfo}): bf16 is emulated here, about 30x slower than fp32 (DCGAN at width 64: 9.5 s against "
        f"0.31 s per iteration on a 2-core AVX2-only AMD EPYC). Set {name}.precision=fp32 unless you mean it."
    )
    return True


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

    `data_paths`: the prepared training split(s) the model family takes (DATA_ROLES)."""
    world, dev = join(resolve_device(device))
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    out_dir = Path(out_dir)
    if world.is_main:
        warn_emulated_bf16(name, cfg, dev)
    splits = [load_split(path) for path in data_paths]
    trainer = build_trainer(name, cfg, seed=seed, device=dev, splits=splits, world=world)
    state = trainer.state
    config = run_config(name, cfg, seed=seed, data_digest=_data_digest(splits), resolution=splits[0].resolution)
    _prepare_output(out_dir, config, cfg.iterations, state, world)

    live = TrainingLive(live_dir, resume_at=state.iteration) if world.is_main and live_dir else _NoLog()
    if state.iteration >= cfg.iterations:
        if world.is_main:
            print(f"{name}: already trained to iteration {state.iteration}")
        live.close()
        return state

    for net in state.nets.values():
        net.train()

    # Running sums on the device: no host sync until a log or checkpoint point.
    sums = torch.zeros(len(trainer.stats), device=dev)
    window, window_start = 0, state.elapsed
    first_bad = torch.full((), -1, dtype=torch.long, device=dev)
    iteration_t = torch.full((), state.iteration, dtype=torch.long, device=dev)
    start_time = time.perf_counter() - state.elapsed
    bar = tqdm(
        total=cfg.iterations,
        initial=state.iteration,
        desc=name,
        mininterval=2.0,
        disable=not (progress and world.is_main),
    )

    while state.iteration < cfg.iterations:
        stats = trainer.step()
        state.iteration += 1
        iteration_t += 1
        with torch.no_grad():
            sums += stats
            bad = ~torch.isfinite(stats[:2]).all()
            first_bad = torch.where(bad & (first_bad < 0), iteration_t, first_bad)
        window += 1
        bar.update(1)

        it = state.iteration
        at_log, at_ckpt = it % cfg.log_every == 0, it % cfg.ckpt_every == 0 or it == cfg.iterations
        if not (at_log or at_ckpt):
            continue
        bad_at = int(reduced(first_bad, world, op="max"))
        if bad_at >= 0:
            bar.close()
            kept = list_snapshots(out_dir / "checkpoints")
            raise GanlabError(
                f"{name}: non-finite loss at iteration {bad_at}; training stopped. "
                f"Last good checkpoint: {kept[-1] if kept else 'none'} (lower the learning rates or change the loss)"
            )
        state.elapsed = time.perf_counter() - start_time
        row, preview = {}, None
        if at_log:
            means = (reduced(sums, world) / (window * world.size)).tolist()
            row = dict(zip(trainer.stats, means))
            for key, opt in state.optimizers.items():  # an fp32 tensor: logged to its 7 digits
                row[f"lr_{key.removeprefix('opt_')}"] = float(f"{float(opt.param_groups[0]['lr']):.7g}")
            row.update({k: g.item() for k, g in _gamma_columns(state).items()})
            row.update(it_per_s=window / max(state.elapsed - window_start, 1e-9), seconds=state.elapsed)
            bar.set_postfix(loss_d=f"{means[0]:.3f}", loss_g=f"{means[1]:.3f}", refresh=False)
            sums.zero_()
            window, window_start = 0, state.elapsed
        if at_ckpt:
            if not _all_finite(state):
                raise GanlabError(f"{name}: non-finite weights at iteration {it}; training stopped")
            if world.is_main:
                snapshot = snapshot_path(out_dir / "checkpoints", it)
                # Snapshot first: a kill between the two writes only repeats work on resume.
                trainer.save_snapshot(snapshot, config=config, iteration=it, seed=seed)
                preview = grid_image(trainer.preview(snapshot, seed=seed), nrow=PREVIEW_PER_ROW)
        # Logged before last.pt moves on: a kill in between leaves rows past last.pt, which the
        # resumed run drops (trim_history), never a gap.
        live.log(it, row, preview=preview)
        if at_ckpt and world.is_main:
            atomic_torch_save(state.state_dict(config), out_dir / "last.pt")
    bar.close()
    live.close()
    barrier(world)  # last.pt is written before any worker reports success
    return state
