"""One resumable training loop for every GAN in ganlab.models.MODELS."""

from __future__ import annotations

import copy
import csv
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor, nn
from tqdm import tqdm

from ganlab.augment import diff_augment
from ganlab.config import GANConfig
from ganlab.data.prepared import Split, load_split
from ganlab.errors import GanlabError
from ganlab.io import atomic_path, atomic_torch_save, load_checkpoint
from ganlab.layers import attention_gammas
from ganlab.losses import LOSSES, gradient_penalty
from ganlab.models import build_discriminator, build_generator
from ganlab.sampling import random_labels, resolve_device
from ganlab.training.batches import RealBatches
from ganlab.training.checkpoints import (
    list_snapshots,
    resume_mismatch,
    run_config,
    save_snapshot,
    snapshot_path,
)

LOG_STATS = ("loss_d", "loss_g", "d_real", "d_fake")


@dataclass(kw_only=True)
class TrainState:
    """Everything `last.pt` holds; rebuilding it from there continues bit-for-bit on CPU."""

    generator: nn.Module
    discriminator: nn.Module
    generator_ema: nn.Module | None
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    rng: torch.Generator
    iteration: int = 0
    elapsed: float = 0.0

    def state_dict(self, config: dict) -> dict:
        return {
            "config": config,
            "iteration": self.iteration,
            "elapsed": self.elapsed,
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "generator_ema": self.generator_ema.state_dict() if self.generator_ema else None,
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "rng": {"device": self.rng.device.type, "state": self.rng.get_state()},
        }

    def load_state_dict(self, state: dict) -> None:
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        if self.generator_ema is not None:
            self.generator_ema.load_state_dict(state["generator_ema"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        if state["rng"]["device"] == self.rng.device.type:
            self.rng.set_state(state["rng"]["state"])
        else:  # CPU and CUDA generators differ; the run continues, but not bit-for-bit.
            print(f"note: resuming on {self.rng.device.type} a run saved on {state['rng']['device']}; reseeding")
            self.rng.manual_seed(int(state["iteration"]))
        self.iteration, self.elapsed = int(state["iteration"]), float(state["elapsed"])

    @property
    def sampling_generator(self) -> nn.Module:
        """The generator snapshots and FID use: the EMA copy when it is on."""
        return self.generator_ema if self.generator_ema is not None else self.generator


# NHWC on every device. On CUDA it is what cuDNN's tensor-core kernels want. On CPU it measured
# faster too (batch 64, bench/train_speed.py vs --nchw): on a 2-core Xeon with AMX, dcgan fp32
# 7.26 -> 8.07 it/s and bf16 11.10 -> 13.13 it/s; on a 2-core AVX-512 EPYC (issue 8's trial),
# dcgan fp32 5.1 -> 5.5 it/s and sagan at width 64 0.86 -> 1.00 it/s.
MEMORY_FORMAT = torch.channels_last


def build_state(
    name: str, cfg: GANConfig, *, num_classes: int, resolution: int, seed: int, device: torch.device
) -> TrainState:
    torch.manual_seed(seed)  # weight init and spectral-norm vectors
    shape = dict(num_classes=num_classes, resolution=resolution)
    generator = build_generator(name, cfg, **shape).to(device, memory_format=MEMORY_FORMAT)
    discriminator = build_discriminator(name, cfg, **shape).to(device, memory_format=MEMORY_FORMAT)
    ema = copy.deepcopy(generator).requires_grad_(False) if cfg.ema > 0 else None
    if cfg.compile:
        # In place (nn.Module.compile), so state_dict keys and checkpoints are unchanged.
        generator.compile(), discriminator.compile()
    fused = device.type == "cuda"
    return TrainState(
        generator=generator,
        discriminator=discriminator,
        generator_ema=ema,
        opt_g=torch.optim.Adam(generator.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2), fused=fused),
        opt_d=torch.optim.Adam(discriminator.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2), fused=fused),
        rng=torch.Generator(device=device).manual_seed(seed),
    )


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    ema_params, params = list(ema.parameters()), list(model.parameters())
    torch._foreach_lerp_(ema_params, params, 1.0 - decay)
    # Buffers (BN running stats, spectral-norm vectors) are copied, not averaged.
    for b_ema, b in zip(ema.buffers(), model.buffers()):
        b_ema.copy_(b)


@torch.no_grad()
def with_standing_stats(generator: nn.Module, *, seed: int, batches: int = 16, batch_size: int = 64) -> nn.Module:
    """A copy of `generator` whose BatchNorm statistics are measured on its own activations.

    The EMA generator averages G's weights but copies G's running statistics, which describe the
    current G's activations, not the averaged weights' ones. Early in a run, when the average
    still leans on older weights, that mismatch alone turns samples into striped noise (seen on
    Fashion-MNIST at iteration 1500 with ema 0.9999). BigGAN's remedy, "standing statistics":
    run the averaged generator on fresh latents and take the exact mean of the batch statistics.
    Its own seeded draws leave the training RNG, and so resume, untouched.
    """
    snapshot = copy.deepcopy(generator).eval()
    device = next(snapshot.parameters()).device
    norms = [m for m in snapshot.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the batches below
        bn.train()
    rng = torch.Generator(device=device).manual_seed(seed)
    for _ in range(batches):
        z = torch.randn(batch_size, snapshot.z_dim, generator=rng, device=device)
        snapshot(z, random_labels(batch_size, snapshot.num_classes, generator=rng, device=device))
    return snapshot.eval()


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
    for prefix, net in (("g", state.generator), ("d", state.discriminator)):
        for module_name, gamma in attention_gammas(net).items():
            gammas[f"gamma_{prefix}_{module_name.replace('.', '_')}"] = gamma
    return gammas


def _all_finite(module: nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in module.parameters())


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


def lr_scale(cfg: GANConfig, iteration: int) -> float:
    """The learning-rate factor for the step that follows `iteration` completed steps.

    `linear` falls from 1 to 1/iterations over the run (SNGAN's schedule), a pure function of
    the step, so resuming needs no scheduler state.
    """
    return 1.0 - iteration / cfg.iterations if cfg.lr_decay == "linear" else 1.0


def make_step(state: TrainState, cfg: GANConfig, *, real_batches: RealBatches) -> Callable[[], Tensor]:
    """One training iteration as a closure: `n_dis` D steps, one G step, the EMA update.

    It returns the detached (loss_d, loss_g, mean D(real), mean D(fake)) on the device, so the
    caller decides when to sync.

    With `diffaug`, every image D sees goes through the same differentiable augmentation, real
    and fake, in the D and the G step (the GP's interpolates too), drawn from the training RNG.

    Under `precision: bf16` only the forward passes of G and D run under autocast: weights,
    Adam moments and the EMA copy stay fp32, D's outputs are cast to fp32 before the loss, and
    the spectral-norm power iteration and BatchNorm statistics run in fp32 (ganlab.layers).
    No GradScaler: bf16 has fp32's 8-bit exponent, so small gradients do not underflow the
    way they do in fp16, and there is nothing for loss scaling to rescue.
    """
    G, D, rng = state.generator, state.discriminator, state.rng
    dev, num_classes, loss = rng.device, G.num_classes, LOSSES[cfg.loss]
    bf16, policies = cfg.precision == "bf16", cfg.diffaug_policies

    def forward_d(x: Tensor, y: Tensor | None) -> Tensor:
        if policies:
            x = diff_augment(x, policies, generator=rng)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
            return D(x, y).float()

    def forward_g(z: Tensor, y: Tensor | None) -> Tensor:
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
            return G(z, y)

    def noise(n: int) -> tuple[Tensor, Tensor | None]:
        z = torch.randn(n, cfg.z_dim, generator=rng, device=dev)
        return z, random_labels(n, num_classes, generator=rng, device=dev)

    def step() -> Tensor:
        scale = lr_scale(cfg, state.iteration)
        for opt, lr in ((state.opt_g, cfg.lr_g), (state.opt_d, cfg.lr_d)):
            for group in opt.param_groups:
                group["lr"] = lr * scale
        for _ in range(cfg.n_dis):
            real, real_y = real_batches.batch(cfg.batch_size)
            real_y = real_y if num_classes else None
            z, fake_y = noise(cfg.batch_size)
            with torch.no_grad():
                fake = forward_g(z, fake_y).float()
            d_real, d_fake = forward_d(real, real_y), forward_d(fake, fake_y)
            loss_d = loss.d_loss(d_real, d_fake)
            if cfg.gp_weight > 0:
                alpha = torch.rand(cfg.batch_size, 1, 1, 1, generator=rng, device=dev)
                loss_d = loss_d + cfg.gp_weight * gradient_penalty(forward_d, real, fake, fake_y, alpha)
            state.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            state.opt_d.step()

        z, fake_y = noise(cfg.batch_size)
        loss_g = loss.g_loss(forward_d(forward_g(z, fake_y), fake_y))
        state.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        state.opt_g.step()
        if state.generator_ema is not None:
            # Before ema_start the average just follows G (early weights are not worth keeping).
            update_ema(state.generator_ema, G, cfg.ema if state.iteration >= cfg.ema_start else 0.0)
        return torch.stack([loss_d, loss_g, d_real.mean(), d_fake.mean()]).detach()

    return step


def _check_data(name: str, cfg: GANConfig, split: Split) -> None:
    if len(split.labels) < cfg.batch_size:
        raise GanlabError(
            f"{name}.batch_size={cfg.batch_size}: the training set holds only {len(split.labels)} images, "
            "fewer than one batch; lower the batch size or add images"
        )
    if getattr(cfg, "conditional", False) and not split.classes:
        raise GanlabError(
            f"{name}.conditional=true, but the training images have no classes (a folder without class "
            f"subfolders); run with -S {name}.conditional=false, or sort the images into one subfolder per class"
        )


def train(
    name: str,
    cfg: GANConfig,
    *,
    seed: int,
    device: str,
    data_path: str | Path,
    out_dir: str | Path,
    log_path: str | Path,
    progress: bool = True,
) -> TrainState:
    """Train model `name` to `cfg.iterations`, resuming from `out_dir/last.pt` when possible."""
    dev = resolve_device(device)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    out_dir = Path(out_dir)
    split = load_split(data_path)
    _check_data(name, cfg, split)
    config = run_config(name, cfg, seed=seed, data_digest=split.digest, resolution=split.resolution)
    state = build_state(name, cfg, num_classes=len(split.classes), resolution=split.resolution, seed=seed, device=dev)
    _prepare_output(out_dir, config, cfg.iterations, state)

    log = TrainLog(log_path, ["iteration", *LOG_STATS, *_gamma_columns(state), "seconds"])
    log.restart(keep_until=state.iteration)
    if state.iteration >= cfg.iterations:
        print(f"{name}: already trained to iteration {state.iteration}")
        return state

    step = make_step(state, cfg, real_batches=RealBatches(split, rng=state.rng, memory_format=MEMORY_FORMAT))
    state.generator.train(), state.discriminator.train()

    # Running sums on the device: no host sync until a log or checkpoint point.
    sums = torch.zeros(len(LOG_STATS), device=dev)
    window = 0
    first_bad = torch.full((), -1, dtype=torch.long, device=dev)
    iteration_t = torch.full((), state.iteration, dtype=torch.long, device=dev)
    start_time = time.perf_counter() - state.elapsed
    bar = tqdm(total=cfg.iterations, initial=state.iteration, desc=name, mininterval=2.0, disable=not progress)

    while state.iteration < cfg.iterations:
        stats = step()
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
            row = {"iteration": it, **dict(zip(LOG_STATS, means)), "seconds": round(state.elapsed, 3)}
            row.update({k: g.item() for k, g in _gamma_columns(state).items()})
            log.append(row)
            bar.set_postfix(loss_d=f"{means[0]:.3f}", loss_g=f"{means[1]:.3f}", refresh=False)
            sums.zero_()
            window = 0
        if at_ckpt:
            if not (_all_finite(state.generator) and _all_finite(state.discriminator)):
                raise GanlabError(f"{name}: non-finite weights at iteration {it}; training stopped")
            # Snapshot first: a kill between the two writes only repeats work on resume.
            sampling_generator = state.sampling_generator
            if state.generator_ema is not None:
                sampling_generator = with_standing_stats(sampling_generator, seed=seed + it)
            save_snapshot(
                snapshot_path(out_dir / "checkpoints", it),
                generator=sampling_generator,
                config=config,
                iteration=it,
                classes=split.classes,
                resolution=split.resolution,
            )
            atomic_torch_save(state.state_dict(config), out_dir / "last.pt")
    bar.close()
    return state
