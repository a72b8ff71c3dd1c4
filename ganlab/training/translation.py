"""What the translation families (CycleGAN, CUT) share: two prepared domains, their jittered and
flipped training batches, the forwards in the run's precision, and snapshots of the two
translators G_AB and G_BA, which the scoring, the report and `ganlab.translate` read the same way
whichever family trained them."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from ganlab.config import CycleGANConfig
from ganlab.data.prepared import Split
from ganlab.distributed import SINGLE, World
from ganlab.errors import GanlabError
from ganlab.io import atomic_torch_save
from ganlab.models import TRANSLATORS
from ganlab.nn.augment import diff_augment, jitter_flip
from ganlab.nn.layers import at_least_fp32
from ganlab.nn.losses import LOSSES
from ganlab.sampling import translate
from ganlab.training.checkpoints import load_translators
from ganlab.training.graphs import check_graph_batches, check_graph_device
from ganlab.training.state import MEMORY_FORMAT, TrainState, autocast_for, place, real_batches

TRANSLATOR_KEYS = ("g_ab", "g_ba")
PREVIEW_SOURCES = 8


def check_domains(name: str, cfg: CycleGANConfig, splits: list[Split]) -> None:
    for domain, spec, split in zip("AB", (cfg.domain_a, cfg.domain_b), splits):
        if split.resolution != cfg.resolution:
            raise GanlabError(
                f"{name}.resolution={cfg.resolution}, but domain {domain} ({spec}) was prepared at "
                f"{split.resolution} px; re-run `dvc repro prepare_cyclegan`"
            )
        if len(split.labels) < cfg.batch_size:
            raise GanlabError(
                f"{name}.batch_size={cfg.batch_size}: domain {domain} ({spec}) holds only {len(split.labels)} "
                "training images, fewer than one batch; lower the batch size or add images"
            )


def translation_nets(cfg: CycleGANConfig, *, seed: int, device: torch.device) -> dict[str, nn.Module]:
    """G_AB, G_BA and the two patch discriminators, initialised from `seed`."""
    torch.manual_seed(seed)  # weight init
    networks = TRANSLATORS["cyclegan"]
    return {
        "g_ab": place(networks.translator.from_config(cfg), device),
        "g_ba": place(networks.translator.from_config(cfg), device),
        "d_a": place(networks.discriminator.from_config(cfg), device),  # real A vs G_BA(b)
        "d_b": place(networks.discriminator.from_config(cfg), device),  # real B vs G_AB(a)
    }


class TranslationTrainer:
    """Unpaired translation A <-> B on two prepared training splits; a subclass builds the state
    (`build_state`) and defines the iteration (`step`)."""

    data_roles = ("domain A", "domain B")

    def __init__(
        self,
        *,
        name: str,
        cfg: CycleGANConfig,
        splits: list[Split],
        seed: int,
        device: torch.device,
        world: World = SINGLE,
    ) -> None:
        check_domains(name, cfg, splits)
        check_graph_device(name, cfg, device)
        world.rows(cfg.batch_size, what=f"{name}.batch_size")
        self.cfg, self.device, self.world = cfg, device, world
        self.state = self.build_state(cfg, seed=seed, device=device)
        # InstanceNorm only: nothing to synchronise but the gradients.
        self.batches = [real_batches(s, self.state.rng, world) for s in splits]
        for batches in self.batches:
            check_graph_batches(name, cfg, batches)
        self.preview_sources = [s.images[:PREVIEW_SOURCES] for s in splits]
        self.loss = LOSSES[cfg.loss]
        self.autocast = autocast_for(device, cfg.precision)

    def build_state(self, cfg: CycleGANConfig, *, seed: int, device: torch.device) -> TrainState:
        raise NotImplementedError

    def step(self) -> Tensor:
        raise NotImplementedError

    def _input(self, batches) -> Tensor:
        """A training batch of one domain, jittered and flipped with the training RNG."""
        cfg = self.cfg
        x, _ = batches.batch(cfg.batch_size)
        x = jitter_flip(x, scale=cfg.jitter, flip=cfg.flip, generator=self.state.rng, world=self.world)
        return x.contiguous(memory_format=MEMORY_FORMAT)

    def _forward(self, net: nn.Module, x: Tensor) -> Tensor:
        with self.autocast():
            return at_least_fp32(net(x))

    def _judge(self, net: nn.Module, x: Tensor) -> Tensor:
        if self.cfg.diffaug_policies:
            x = diff_augment(x, self.cfg.diffaug_policies, generator=self.state.rng, world=self.world)
        return self._forward(net, x)

    def log_values(self) -> dict[str, Tensor]:
        return {}  # everything it logs is in `stats`

    def save_snapshot(self, path: Path, *, config: dict, iteration: int, seed: int) -> None:
        atomic_torch_save(
            {
                **{key: self.state.sampling(key).state_dict() for key in TRANSLATOR_KEYS},
                "config": config,
                "iteration": iteration,
                "image_shape": [3, self.cfg.resolution, self.cfg.resolution],
            },
            path,
        )

    def preview(self, snapshot: Path, *, seed: int) -> Tensor:
        """Rows: the first 8 training images of A, A→B, A→B→A; then the same for B."""
        device = self.state.rng.device
        nets, _ = load_translators(snapshot, device=device)
        rows = []
        for source, there, back in zip(self.preview_sources, ("g_ab", "g_ba"), ("g_ba", "g_ab")):
            source = torch.as_tensor(source)
            forward = translate(nets[there], source, batch_size=len(source), device=device)
            rows += [source, forward, translate(nets[back], forward, batch_size=len(source), device=device)]
        return torch.cat(rows)
