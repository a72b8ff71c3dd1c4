"""Training a GAN from noise (dcgan, sagan): its state, its iteration and its snapshots."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor, nn

from ganlab.augment import diff_augment
from ganlab.config import GANConfig
from ganlab.data.prepared import Split
from ganlab.distributed import SINGLE, World
from ganlab.errors import GanlabError
from ganlab.layers import at_least_fp32, sync_batchnorm
from ganlab.losses import LOSSES, gradient_penalty, mode_seeking_penalty
from ganlab.models import build_discriminator, build_generator
from ganlab.sampling import generate, random_labels
from ganlab.training.batches import RealBatches
from ganlab.training.checkpoints import load_generator, save_snapshot
from ganlab.training.state import (
    TrainState,
    adam,
    averaged_copies,
    compile_nets,
    optimizer_step,
    place,
    real_batches,
    set_learning_rates,
    update_averages,
)


def build_state(
    name: str, cfg: GANConfig, *, num_classes: int, resolution: int, seed: int, device: torch.device
) -> TrainState:
    torch.manual_seed(seed)  # weight init and spectral-norm vectors
    shape = dict(num_classes=num_classes, resolution=resolution)
    nets = {
        "generator": place(build_generator(name, cfg, **shape), device),
        "discriminator": place(build_discriminator(name, cfg, **shape), device),
    }
    averaged = averaged_copies(nets, ("generator",), cfg)
    compile_nets(nets, cfg)
    return TrainState(
        nets=nets,
        averaged=averaged,
        optimizers={
            "opt_g": adam(nets["generator"], lr=cfg.lr_g, cfg=cfg, device=device),
            "opt_d": adam(nets["discriminator"], lr=cfg.lr_d, cfg=cfg, device=device),
        },
        rng=torch.Generator(device=device).manual_seed(seed),
    )


@torch.no_grad()
def with_standing_stats(generator: nn.Module, *, seed: int, batch_size: int, batches: int = 16) -> nn.Module:
    """A copy of `generator` whose BatchNorm statistics are measured on its own activations.

    The EMA generator averages G's weights but copies G's running statistics, which describe the
    current G's activations, not the averaged weights' ones. Early in a run, when the average
    still leans on older weights, that mismatch alone turns samples into striped noise (seen on
    Fashion-MNIST at iteration 1500 with ema 0.9999). BigGAN's remedy, "standing statistics":
    run the averaged generator on fresh latents and take the exact mean of the batch statistics.
    Batches of the training `batch_size`: the statistics G was trained to expect.
    Its own seeded draws leave the training RNG, and so resume, untouched.
    """
    snapshot = sync_batchnorm(copy.deepcopy(generator), False).eval()  # one process measures it
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


def make_step(state: TrainState, cfg: GANConfig, *, real_batches: RealBatches, world: World) -> Callable[[], Tensor]:
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

    With `mode_seeking`, G's batch is drawn as pairs of rows (2i, 2i+1) with one class and two
    latents, and G's loss adds that weight times MSGAN's term on the un-augmented images. The
    pairs stay whole under a distributed run: check_data requires an even number of rows per rank.
    Each rank takes the term's two means over its own pairs, so with several ranks it matches one
    process in expectation only (a ratio of means is not a mean of ratios).

    In a distributed run every draw is made for the global `batch_size` and sliced to this
    rank's rows, and each optimizer step averages the gradients over the ranks first.
    """
    G, D, rng = state.nets["generator"], state.nets["discriminator"], state.rng
    dev, num_classes, loss = rng.device, G.num_classes, LOSSES[cfg.loss]
    bf16, policies = cfg.precision == "bf16", cfg.diffaug_policies

    def forward_d(x: Tensor, y: Tensor | None) -> Tensor:
        if policies:
            x = diff_augment(x, policies, generator=rng, world=world)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
            return at_least_fp32(D(x, y))

    def forward_g(z: Tensor, y: Tensor | None) -> Tensor:
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
            return G(z, y)

    def noise(n: int, *, pairs: bool = False) -> tuple[Tensor, Tensor | None]:
        z = world.draw(torch.randn(n, cfg.z_dim, generator=rng, device=dev))
        labels = random_labels(n // 2 if pairs else n, num_classes, generator=rng, device=dev)
        if pairs and labels is not None:
            labels = labels.repeat_interleave(2)
        return z, None if labels is None else world.draw(labels)

    def step() -> Tensor:
        set_learning_rates(state, cfg)
        opt_g, opt_d = state.optimizers["opt_g"], state.optimizers["opt_d"]
        for _ in range(cfg.n_dis):
            real, real_y = real_batches.batch(cfg.batch_size)
            real_y = real_y if num_classes else None
            z, fake_y = noise(cfg.batch_size)
            with torch.no_grad():
                fake = at_least_fp32(forward_g(z, fake_y))
            d_real, d_fake = forward_d(real, real_y), forward_d(fake, fake_y)
            loss_d = loss.d_loss(d_real, d_fake)
            if cfg.gp_weight > 0:
                alpha = world.draw(torch.rand(cfg.batch_size, 1, 1, 1, generator=rng, device=dev))
                loss_d = loss_d + cfg.gp_weight * gradient_penalty(forward_d, real, fake, fake_y, alpha)
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            optimizer_step(opt_d, world)

        z, fake_y = noise(cfg.batch_size, pairs=cfg.mode_seeking > 0)
        fake = forward_g(z, fake_y)
        loss_g = loss.g_loss(forward_d(fake, fake_y))
        if cfg.mode_seeking > 0:
            loss_g = loss_g + cfg.mode_seeking * mode_seeking_penalty(at_least_fp32(fake), z)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        optimizer_step(opt_g, world)
        update_averages(state, cfg)
        return torch.stack([loss_d, loss_g, d_real.mean(), d_fake.mean()]).detach()

    return step


def check_data(name: str, cfg: GANConfig, split: Split, world: World) -> None:
    rows = world.rows(cfg.batch_size, what=f"{name}.batch_size")
    per_process = rows.stop - rows.start
    if cfg.mode_seeking > 0 and per_process % 2:
        raise GanlabError(
            f"{name}.batch_size={cfg.batch_size}: {name}.mode_seeking draws G's batch as pairs of latents, which "
            f"needs an even number of rows per process; found {per_process}"
        )
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


class NoiseGAN:
    """dcgan and sagan: G(z, y) -> image against D(image, y), on one prepared training split."""

    stats = ("loss_d", "loss_g", "d_real", "d_fake")

    def __init__(
        self, *, name: str, cfg: GANConfig, splits: list[Split], seed: int, device: torch.device, world: World = SINGLE
    ) -> None:
        (split,) = splits
        check_data(name, cfg, split, world)
        self.classes, self.batch_size = split.classes, cfg.batch_size
        self.state = build_state(
            name, cfg, num_classes=len(split.classes), resolution=split.resolution, seed=seed, device=device
        )
        for net in self.state.nets.values():
            sync_batchnorm(net, world.distributed)
        batches = real_batches(split, self.state.rng, world)
        self.step = make_step(self.state, cfg, real_batches=batches, world=world)

    def save_snapshot(self, path: Path, *, config: dict, iteration: int, seed: int) -> None:
        generator = self.state.sampling("generator")
        if "generator" in self.state.averaged:
            generator = with_standing_stats(generator, seed=seed + iteration, batch_size=self.batch_size)
        save_snapshot(
            path,
            generator=generator,
            config=config,
            iteration=iteration,
            classes=self.classes,
            resolution=generator.resolution,
        )

    def preview(self, snapshot: Path, *, seed: int) -> Tensor:
        """64 samples of the snapshot's generator from the same latents at every checkpoint."""
        device = self.state.rng.device
        generator, _ = load_generator(snapshot, device=device)
        return generate(generator, n=64, batch_size=64, seed=seed, device=device)
