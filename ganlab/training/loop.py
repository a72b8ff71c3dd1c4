"""One resumable training loop for every model in TRAINERS: the loop owns resume, logging,
checkpoints and the NaN guard; each model family owns its iteration (`Trainer.step`)."""

from __future__ import annotations

import csv
import hashlib
import time
from pathlib import Path

import torch
from torch import Tensor
from tqdm import tqdm

from ganlab.config import TrainConfig
from ganlab.data.prepared import load_split
from ganlab.errors import GanlabError
from ganlab.io import atomic_path, atomic_torch_save, load_checkpoint
from ganlab.layers import attention_gammas
from ganlab.sampling import resolve_device
from ganlab.training.checkpoints import list_snapshots, resume_mismatch, run_config, snapshot_path
from ganlab.training.cyclegan import CycleGAN
from ganlab.training.gan import NoiseGAN
from ganlab.training.state import Trainer, TrainState

# params section -> its model family; `data` holds one prepared split per entry of DATA_ROLES.
TRAINERS: dict[str, type] = {"dcgan": NoiseGAN, "sagan": NoiseGAN, "cyclegan": CycleGAN}
DATA_ROLES = {NoiseGAN: ("training images",), CycleGAN: ("domain A", "domain B")}
NET_PREFIX = {"generator": "g", "discriminator": "d"}


class TrainLog:
    """metrics/<model>/train_log.csv, one row per `log_every` iterations (means over the window)."""

    def __init__(self, path: Path, columns: list[str]) -> None:
        self.path, self.columns = Path(path), columns

    def restart(self, keep_until: int) -> None:
        """Drop rows after `keep_until` (logged after the last checkpoint of a killed run)."""
        rows = []
        if keep_until > 0 and self.path.exists():
            with open(self.path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["iteration"]) <= keep_until]
        with atomic_path(self.path) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, self.columns)
            writer.writeheader()
            writer.writerows({k: r.get(k, "") for k in self.columns} for r in rows)

    def append(self, row: dict) -> None:
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, self.columns).writerow(row)


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


def _prepare_output(out_dir: Path, config: dict, iterations: int, state: TrainState) -> None:
    """Resume from last.pt when it matches `config`; otherwise clear stale checkpoints."""
    last = out_dir / "last.pt"
    if last.exists():
        saved = load_checkpoint(last)
        mismatch = resume_mismatch(saved.get("config", {}), config)
        if not mismatch and saved["iteration"] <= iterations:
            state.load_state_dict(saved)
            print(f"resuming from {last} at iteration {state.iteration}")
            return
        why = "; ".join(mismatch) or f"last.pt is at iteration {saved['iteration']} > iterations={iterations}"
        print(f"config changed ({why}): deleting stale checkpoints and starting fresh")
    stale = list_snapshots(out_dir / "checkpoints") + ([last] if last.exists() else [])
    for path in stale:
        path.unlink()


def build_trainer(name: str, cfg: TrainConfig, *, seed: int, device: torch.device, splits: list) -> Trainer:
    family = TRAINERS[name]
    roles = DATA_ROLES[family]
    if len(splits) != len(roles):
        raise GanlabError(f"{name} trains on {len(roles)} prepared split(s) ({', '.join(roles)}), given {len(splits)}")
    return family(name=name, cfg=cfg, splits=splits, seed=seed, device=device)


def train(
    name: str,
    cfg: TrainConfig,
    *,
    seed: int,
    device: str,
    data_paths: list[str | Path],
    out_dir: str | Path,
    log_path: str | Path,
    progress: bool = True,
) -> TrainState:
    """Train model `name` to `cfg.iterations`, resuming from `out_dir/last.pt` when possible.

    `data_paths`: the prepared training split(s) the model family takes (DATA_ROLES)."""
    dev = resolve_device(device)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    out_dir = Path(out_dir)
    splits = [load_split(path) for path in data_paths]
    trainer = build_trainer(name, cfg, seed=seed, device=dev, splits=splits)
    state = trainer.state
    config = run_config(name, cfg, seed=seed, data_digest=_data_digest(splits), resolution=splits[0].resolution)
    _prepare_output(out_dir, config, cfg.iterations, state)

    log = TrainLog(log_path, ["iteration", *trainer.stats, *_gamma_columns(state), "seconds"])
    log.restart(keep_until=state.iteration)
    if state.iteration >= cfg.iterations:
        print(f"{name}: already trained to iteration {state.iteration}")
        return state

    for net in state.nets.values():
        net.train()

    # Running sums on the device: no host sync until a log or checkpoint point.
    sums = torch.zeros(len(trainer.stats), device=dev)
    window = 0
    first_bad = torch.full((), -1, dtype=torch.long, device=dev)
    iteration_t = torch.full((), state.iteration, dtype=torch.long, device=dev)
    start_time = time.perf_counter() - state.elapsed
    bar = tqdm(total=cfg.iterations, initial=state.iteration, desc=name, mininterval=2.0, disable=not progress)

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
        if first_bad.item() >= 0:
            bar.close()
            kept = list_snapshots(out_dir / "checkpoints")
            raise GanlabError(
                f"{name}: non-finite loss at iteration {first_bad.item()}; training stopped. "
                f"Last good checkpoint: {kept[-1] if kept else 'none'} (lower the learning rates or change the loss)"
            )
        state.elapsed = time.perf_counter() - start_time
        if at_log:
            means = (sums / window).tolist()
            row = {"iteration": it, **dict(zip(trainer.stats, means)), "seconds": round(state.elapsed, 3)}
            row.update({k: g.item() for k, g in _gamma_columns(state).items()})
            log.append(row)
            bar.set_postfix(loss_d=f"{means[0]:.3f}", loss_g=f"{means[1]:.3f}", refresh=False)
            sums.zero_()
            window = 0
        if at_ckpt:
            if not _all_finite(state):
                raise GanlabError(f"{name}: non-finite weights at iteration {it}; training stopped")
            # Snapshot first: a kill between the two writes only repeats work on resume.
            trainer.save_snapshot(snapshot_path(out_dir / "checkpoints", it), config=config, iteration=it, seed=seed)
            atomic_torch_save(state.state_dict(config), out_dir / "last.pt")
    bar.close()
    return state
