"""Training CycleGAN (Zhu et al. 2017): two translators and two patch discriminators, one
iteration as in the reference code (G_AB and G_BA update together, then D_A and D_B on the same
translations, detached).

The G objective per iteration, with `loss`'s generator term ℓ_G (lsgan: ½·(D(x) − 1)², Mao et
al.):

    λ_adversarial · (ℓ_G(D_B(G_AB(a))) + ℓ_G(D_A(G_BA(b))))
      + λ_cycle · (|G_BA(G_AB(a)) − a|₁ + |G_AB(G_BA(b)) − b|₁)
      + λ_identity · (|G_AB(b) − b|₁ + |G_BA(a) − a|₁)

CycleGAN's code uses the MSE without the ½, which λ_adversarial = 2 reproduces, and λ_identity =
0.5 · λ_cycle. As there, the inputs a and b are jittered (resized up, randomly cropped) and
flipped, and each D sees its translations through a pool of 50 past ones (`ImagePool`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ganlab.config import CycleGANConfig
from ganlab.training.graphs import CapturedStep
from ganlab.training.image_pool import ImagePool
from ganlab.training.state import TrainState, adam, apply_update, averaged_copies, compile_nets, set_schedules
from ganlab.training.translation import TRANSLATOR_KEYS, TranslationTrainer, translation_nets


class CycleGAN(TranslationTrainer):
    """Two translators tied by the cycle, two patch discriminators, two image pools."""

    # loss_g is G's whole objective; its terms follow unweighted but the adversarial one (λ_adv·)
    stats = ("loss_d", "loss_g", "loss_adversarial", "loss_cycle", "loss_identity", "d_real", "d_fake")

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._iteration = self.iteration
        if self.cfg.graph:
            rows = self.cfg.batch_size // self.world.size  # what each rank's pools take per iteration
            filling = -(-self.cfg.pool_size // rows)  # iterations until they are full
            self._iteration = CapturedStep(self.iteration, generator=self.state.rng, warmup=3 + filling)

    def build_state(self, cfg: CycleGANConfig, *, seed: int, device: torch.device) -> TrainState:
        nets = translation_nets(cfg, seed=seed, device=device)
        averaged = averaged_copies(nets, TRANSLATOR_KEYS, cfg)
        compile_nets(nets, cfg)
        rng = torch.Generator(device=device).manual_seed(seed)
        return TrainState(
            nets=nets,
            averaged=averaged,
            optimizers={
                "opt_g": adam([nets["g_ab"], nets["g_ba"]], cfg=cfg, device=device),
                "opt_d": adam([nets["d_a"], nets["d_b"]], cfg=cfg, device=device),
            },
            rng=rng,
            ema_weight=torch.ones((), device=device),
            # pool_a holds G_BA's translations (what D_A judges), pool_b G_AB's
            extras={key: ImagePool(size=cfg.pool_size, generator=rng) for key in ("pool_a", "pool_b")},
        )

    def step(self) -> Tensor:
        """One iteration as the reference code runs it: a batch of each domain, the translators'
        update, then the discriminators' on the same translations. With `graph: true` the
        iteration is one CUDA graph, captured once the pools are full: filling one is decided per
        image on the host, querying a full one is not (ganlab.training.image_pool)."""
        set_schedules(self.state, self.cfg)
        return self._iteration()

    def iteration(self) -> Tensor:
        real_a, real_b = (self._input(batches) for batches in self.batches)
        fake_a, fake_b, g_stats = self.g_update(real_a, real_b)
        d_stats = self.d_update(real_a, real_b, fake_a, fake_b)
        loss_g, loss_adv, loss_cycle, loss_identity = g_stats
        loss_d, d_real, d_fake = d_stats
        return torch.stack([loss_d, loss_g, loss_adv, loss_cycle, loss_identity, d_real, d_fake]).detach()

    def g_update(self, real_a: Tensor, real_b: Tensor) -> tuple[Tensor, Tensor, tuple[Tensor, ...]]:
        """G_AB and G_BA on their objective (module docstring); returns the translations G_BA(b),
        G_AB(a) and (loss_g, λ_adv·adversarial, cycle, identity). D's weights are frozen, so the
        backward fills no gradient D never uses."""
        cfg, state, loss = self.cfg, self.state, self.loss
        g_ab, g_ba, d_a, d_b = (state.nets[k] for k in ("g_ab", "g_ba", "d_a", "d_b"))
        d_a.requires_grad_(False), d_b.requires_grad_(False)
        fake_b, fake_a = self._forward(g_ab, real_a), self._forward(g_ba, real_b)
        loss_adv = loss.g_loss(self._judge(d_b, fake_b)) + loss.g_loss(self._judge(d_a, fake_a))
        loss_adv = cfg.lambda_adversarial * loss_adv
        loss_cycle = (self._forward(g_ba, fake_b) - real_a).abs().mean()
        loss_cycle = loss_cycle + (self._forward(g_ab, fake_a) - real_b).abs().mean()
        loss_identity = torch.zeros((), device=self.device)
        if cfg.lambda_identity > 0:
            loss_identity = (self._forward(g_ab, real_b) - real_b).abs().mean()
            loss_identity = loss_identity + (self._forward(g_ba, real_a) - real_a).abs().mean()
        loss_g = loss_adv + cfg.lambda_cycle * loss_cycle + cfg.lambda_identity * loss_identity
        apply_update(state, "opt_g", loss_g, self.world)  # and the translators' EMA
        d_a.requires_grad_(True), d_b.requires_grad_(True)
        return fake_a, fake_b, (loss_g, loss_adv, loss_cycle, loss_identity)

    def d_update(self, real_a: Tensor, real_b: Tensor, fake_a: Tensor, fake_b: Tensor) -> tuple[Tensor, ...]:
        """D_A and D_B on real images against the translations, detached, each mixed with past ones
        from its pool; returns (loss_d, mean D(real), mean D(fake)) over both."""
        state, loss = self.state, self.loss
        d_a, d_b = state.nets["d_a"], state.nets["d_b"]
        fake_a, fake_b = state.extras["pool_a"].query(fake_a), state.extras["pool_b"].query(fake_b)
        real_a_logits, real_b_logits = self._judge(d_a, real_a), self._judge(d_b, real_b)
        fake_a_logits, fake_b_logits = self._judge(d_a, fake_a), self._judge(d_b, fake_b)
        loss_d = loss.d_loss(real_a_logits, fake_a_logits) + loss.d_loss(real_b_logits, fake_b_logits)
        apply_update(state, "opt_d", loss_d, self.world)
        d_real = (real_a_logits.mean() + real_b_logits.mean()) / 2
        d_fake = (fake_a_logits.mean() + fake_b_logits.mean()) / 2
        return loss_d, d_real, d_fake
