"""Training a GAN from noise (dcgan, sagan): its state, its iteration and its snapshots."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from ganlab.config import GANConfig
from ganlab.data.prepared import Split
from ganlab.distributed import SINGLE, World
from ganlab.errors import GanlabError
from ganlab.models import build_discriminator, build_generator
from ganlab.nn.augment import diff_augment
from ganlab.nn.layers import at_least_fp32, attention_gammas, refresh_spectral_norms, sync_batchnorm
from ganlab.nn.losses import LOSSES, gradient_penalty, mode_seeking_penalty
from ganlab.sampling import generate, random_labels
from ganlab.training.batches import RealBatches
from ganlab.training.checkpoints import load_generator, save_snapshot
from ganlab.training.graphs import CapturedStep, check_graph_batches, check_graph_device
from ganlab.training.state import (
    TrainState,
    adam,
    apply_update,
    autocast_for,
    averaged_copies,
    compile_nets,
    place,
    real_batches,
    set_schedules,
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
            "opt_g": adam(nets["generator"], cfg=cfg, device=device),
            "opt_d": adam(nets["discriminator"], cfg=cfg, device=device),
        },
        rng=torch.Generator(device=device).manual_seed(seed),
        ema_weight=torch.ones((), device=device),
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


@dataclass(frozen=True)
class Batch:
    """What one update is a function of: the real images and their labels (D's update only), and
    the latents and labels of G's images. Draws made inside the update (DiffAugment's, the
    gradient penalty's interpolation weights) come from the same RNG, in a fixed order."""

    z: Tensor
    fake_y: Tensor | None
    real: Tensor | None = None
    real_y: Tensor | None = None


class GANStep:
    """One training iteration, called by the loop: `n_dis` D updates, one G update (with the
    EMA). It returns the detached (loss_d, loss_g, mean D(real), mean D(fake)) on the device, so
    the caller decides when to sync.

    Each update is its batch's draw (`d_batch`, `g_batch`) and a function of that batch
    (`d_update`, `g_update`); `d_step`/`g_step` are the two together, each captured as one CUDA
    graph with `graph: true` (ganlab.training.graphs). Everything a step reads that changes over
    the run (learning rates, EMA weight, RNG) lives in device tensors; shapes are static and
    nothing in a step waits for the host.

    - D sees real and fake in one forward where it has no BatchNorm (cSAGAN): half the kernel
      launches, and one spectral-norm power iteration per D update, as in Miyato et al. (two
      forwards ran two). DCGAN's D keeps separate batches, since its BN statistics depend on them.
    - The G update freezes D's weights, so its backward computes no gradient that nobody uses.
    - With `diffaug`, every image D sees goes through the same differentiable augmentation, real
      and fake, in the D and the G update (the GP's interpolates too), drawn from the training
      RNG; real and fake are augmented apart, so the draws match one process in a distributed run.
    - The regularisers are the pure functions of ganlab.nn.losses (gradient_penalty,
      mode_seeking_penalty), given their batch and draws.
    - Under `precision: bf16` only the forwards of G and D run under autocast: weights, Adam
      moments and the EMA copy stay fp32, D's outputs are cast to fp32 before the loss, and the
      spectral-norm power iteration and BatchNorm statistics run in fp32 (ganlab.nn.layers). No
      GradScaler: bf16 has fp32's exponent range, so small gradients do not underflow.
    - In a distributed run every draw is made for the global `batch_size` and sliced to this
      rank's rows, and each optimizer step averages the gradients over the ranks first.
    """

    def __init__(self, state: TrainState, cfg: GANConfig, *, real_batches: RealBatches, world: World) -> None:
        self.state, self.cfg, self.real_batches, self.world = state, cfg, real_batches, world
        self.G, self.D, self.rng = state.nets["generator"], state.nets["discriminator"], state.rng
        self.num_classes, self.loss = self.G.num_classes, LOSSES[cfg.loss]
        self.autocast = autocast_for(state.rng.device, cfg.precision)
        self.joint_d = not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in self.D.modules())
        self._d_step, self._g_step = self.d_step, self.g_step
        if cfg.graph:
            self._d_step = CapturedStep(self.d_step, generator=self.rng)
            self._g_step = CapturedStep(self.g_step, generator=self.rng)

    def __call__(self) -> Tensor:
        set_schedules(self.state, self.cfg)
        for _ in range(self.cfg.n_dis):
            loss_d, d_real, d_fake = self._d_step()
        loss_g = self._g_step()
        return torch.stack([loss_d, loss_g, d_real, d_fake]).detach()

    def d_step(self) -> tuple[Tensor, Tensor, Tensor]:
        return self.d_update(self.d_batch())

    def g_step(self) -> Tensor:
        return self.g_update(self.g_batch())

    def forward_d(self, x: Tensor, y: Tensor | None) -> Tensor:
        with self.autocast():
            return at_least_fp32(self.D(x, y))

    def augment(self, x: Tensor) -> Tensor:
        if not self.cfg.diffaug_policies:
            return x
        return diff_augment(x, self.cfg.diffaug_policies, generator=self.rng, world=self.world)

    def judge(self, x: Tensor, y: Tensor | None) -> Tensor:
        """D's output on the augmented images: what every loss term sees."""
        return self.forward_d(self.augment(x), y)

    def forward_g(self, z: Tensor, y: Tensor | None) -> Tensor:
        with self.autocast():
            return self.G(z, y)

    def noise(self, n: int, *, pairs: bool = False) -> tuple[Tensor, Tensor | None]:
        """Latents and class labels for n images; `pairs`: rows 2i, 2i+1 share a class."""
        dev = self.rng.device
        z = self.world.draw(torch.randn(n, self.cfg.z_dim, generator=self.rng, device=dev))
        labels = random_labels(n // 2 if pairs else n, self.num_classes, generator=self.rng, device=dev)
        if pairs and labels is not None:
            labels = labels.repeat_interleave(2)
        return z, None if labels is None else self.world.draw(labels)

    def d_batch(self) -> Batch:
        real, real_y = self.real_batches.batch(self.cfg.batch_size)
        z, fake_y = self.noise(self.cfg.batch_size)
        return Batch(z=z, fake_y=fake_y, real=real, real_y=real_y if self.num_classes else None)

    def g_batch(self) -> Batch:
        return Batch(*self.noise(self.cfg.batch_size, pairs=self.cfg.mode_seeking > 0))

    def d_update(self, batch: Batch) -> tuple[Tensor, Tensor, Tensor]:
        cfg, real, real_y = self.cfg, batch.real, batch.real_y
        with torch.no_grad():
            fake = at_least_fp32(self.forward_g(batch.z, batch.fake_y))
        if self.joint_d:
            x = torch.cat([self.augment(real), self.augment(fake)])
            y = None if real_y is None else torch.cat([real_y, batch.fake_y])
            d_real, d_fake = self.forward_d(x, y).chunk(2)
        else:
            d_real, d_fake = self.judge(real, real_y), self.judge(fake, batch.fake_y)
        loss_d = self.loss.d_loss(d_real, d_fake)
        if cfg.gp_weight > 0:
            # interpolates labelled with the real images' classes, as StudioGAN does (an
            # interpolate is mostly its real endpoint's image for alpha near 1)
            alpha = torch.rand(cfg.batch_size, 1, 1, 1, generator=self.rng, device=self.rng.device)
            loss_d = loss_d + cfg.gp_weight * gradient_penalty(self.judge, real, fake, real_y, self.world.draw(alpha))
        apply_update(self.state, "opt_d", loss_d, self.world)
        return loss_d.detach(), d_real.detach().mean(), d_fake.detach().mean()

    def g_update(self, batch: Batch) -> Tensor:
        cfg = self.cfg
        self.D.requires_grad_(False)  # D's weight gradients would be computed and thrown away
        fake = self.forward_g(batch.z, batch.fake_y)
        loss_g = self.loss.g_loss(self.judge(fake, batch.fake_y))
        if cfg.mode_seeking > 0:
            # on the un-augmented images of the pairs; each rank takes its two means over its own
            # pairs, so with several ranks it matches one process in expectation only
            loss_g = loss_g + cfg.mode_seeking * mode_seeking_penalty(at_least_fp32(fake), batch.z)
        apply_update(self.state, "opt_g", loss_g, self.world)  # and the EMA
        self.D.requires_grad_(True)
        return loss_g.detach()


def check_data(name: str, cfg: GANConfig, split: Split, world: World) -> None:
    """Combinations that cannot train, refused before anything is built."""
    if cfg.compile and cfg.gp_weight > 0:
        # aot_autograd (torch 2.14) raises "does not currently support double backward" at the
        # first D step, which the penalty's gradient of a gradient needs
        raise GanlabError(
            f"{name}.compile=true with {name}.gp_weight={cfg.gp_weight}: torch.compile cannot take the gradient "
            f"penalty's double backward; set {name}.compile=false or {name}.gp_weight=0"
        )
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

    data_roles = ("training images",)
    stats = ("loss_d", "loss_g", "d_real", "d_fake")
    step_class = GANStep  # a family with other updates subclasses GANStep and names it here

    def __init__(
        self, *, name: str, cfg: GANConfig, splits: list[Split], seed: int, device: torch.device, world: World = SINGLE
    ) -> None:
        (split,) = splits
        check_data(name, cfg, split, world)
        check_graph_device(name, cfg, device)
        self.classes, self.batch_size = split.classes, cfg.batch_size
        self.state = build_state(
            name, cfg, num_classes=len(split.classes), resolution=split.resolution, seed=seed, device=device
        )
        for net in self.state.nets.values():
            sync_batchnorm(net, world.distributed)
        batches = real_batches(split, self.state.rng, world)
        check_graph_batches(name, cfg, batches)
        self.step = self.step_class(self.state, cfg, real_batches=batches, world=world)

    def log_values(self) -> dict[str, Tensor]:
        """Each self-attention's γ (gamma_g_<module>, gamma_d_<module>): how much of its output
        the attention contributes, 0 at the start."""
        return {
            f"gamma_{prefix}_{module.replace('.', '_')}": gamma
            for key, prefix in (("generator", "g"), ("discriminator", "d"))
            for module, gamma in attention_gammas(self.state.nets[key]).items()
        }

    def save_snapshot(self, path: Path, *, config: dict, iteration: int, seed: int) -> None:
        generator = self.state.sampling("generator")
        if "generator" in self.state.averaged:
            # its own σ and BN statistics, not the live G's (refresh_spectral_norms, with_standing_stats)
            generator = refresh_spectral_norms(copy.deepcopy(generator))
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
