"""Training CUT (Park et al. 2020, "Contrastive Learning for Unpaired Image-to-Image
Translation"): one translator per direction, each trained by its own patch discriminator and by
PatchNCE instead of a cycle, so a translation may change shapes a cycle would have to undo.

Per direction (A→B shown; B→A is its mirror with its own G, D and MLP head), one iteration as the
reference code runs it: translate, update D on the detached translation, then update G and the
head H on

    λ_adversarial · ℓ_G(D_B(G(a)))  +  λ_nce · NCE(a, G(a))                    (FastCUT)
    λ_adversarial · ℓ_G(D_B(G(a)))  +  λ_nce · (NCE(a, G(a)) + NCE(b, G(b))) / 2  (CUT: nce_identity)

NCE(x, y): the mean over `nce_layers` of `patch_nce` between H(G's features of y) and H(G's
features of x) at the same `nce_patches` random locations (ganlab.nn.losses.patch_nce). With
`flip_equivariance` (FastCUT), half the iterations translate mirrored inputs and mirror the
translation's features back before comparing. As in the reference, there is no image pool and no
cycle or identity L1 term: `pool_size`, `lambda_cycle` and `lambda_identity` are not read.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ganlab.config import CycleGANConfig
from ganlab.models.cyclegan import PatchProjector
from ganlab.nn.losses import patch_nce
from ganlab.training.state import TrainState, adam, apply_update, averaged_copies, compile_nets, set_schedules
from ganlab.training.translation import TRANSLATOR_KEYS, TranslationTrainer, translation_nets

# (translator, its discriminator, its MLP head) per direction, and the domains it maps between
DIRECTIONS = (("g_ab", "d_b", "head_ab", 0, 1), ("g_ba", "d_a", "head_ba", 1, 0))


def feature_channels(translator, layers: list[int], resolution: int, device: torch.device) -> list[int]:
    """The channels of the translator's features at `layers`, from one dry forward."""
    with torch.no_grad():
        probe = torch.zeros(1, 3, resolution, resolution, device=device)
        return [f.shape[1] for f in translator.features(probe, layers)]


class CUT(TranslationTrainer):
    """Contrastive unpaired translation, one CUT model per direction (module docstring)."""

    # loss_g is G's whole objective over both directions; loss_nce and loss_nce_identity unweighted
    stats = ("loss_d", "loss_g", "loss_adversarial", "loss_nce", "loss_nce_identity", "d_real", "d_fake")

    def build_state(self, cfg: CycleGANConfig, *, seed: int, device: torch.device) -> TrainState:
        nets = translation_nets(cfg, seed=seed, device=device)
        channels = feature_channels(nets["g_ab"], cfg.nce_layers, cfg.resolution, device)
        for key in ("head_ab", "head_ba"):
            nets[key] = PatchProjector(channels=channels).to(device)
        averaged = averaged_copies(nets, TRANSLATOR_KEYS, cfg)
        compile_nets({k: nets[k] for k in ("g_ab", "g_ba", "d_a", "d_b")}, cfg)
        return TrainState(
            nets=nets,
            averaged=averaged,
            optimizers={
                # one Adam for G and H: Adam is per parameter, so this is the reference's two
                # optimizers with equal settings, and H follows G's learning-rate schedule as there
                "opt_g": adam([nets[k] for k in ("g_ab", "g_ba", "head_ab", "head_ba")], cfg=cfg, device=device),
                "opt_d": adam([nets["d_a"], nets["d_b"]], cfg=cfg, device=device),
            },
            rng=torch.Generator(device=device).manual_seed(seed),
            ema_weight=torch.ones((), device=device),
        )

    def step(self) -> Tensor:
        """One iteration of both directions: translate, D's update, then G's and H's."""
        cfg, state = self.cfg, self.state
        set_schedules(state, cfg)
        real = [self._input(batches) for batches in self.batches]  # [a, b]
        flip = cfg.flip_equivariance and bool(torch.rand((), generator=state.rng, device=state.rng.device) < 0.5)
        n = len(real[0])
        outputs = {}
        for g, _, _, src, tgt in DIRECTIONS:
            x = torch.cat([real[src], real[tgt]]) if cfg.nce_identity else real[src]
            x = x.flip(3) if flip else x
            outputs[g] = self._forward(state.nets[g], x)  # G(src) first, then G(tgt) under nce_identity
        loss_d, d_real, d_fake = self.d_update(real, outputs, n)
        loss_g, loss_adv, loss_nce, loss_idt = self.g_update(real, outputs, n, flip)
        return torch.stack([loss_d, loss_g, loss_adv, loss_nce, loss_idt, d_real, d_fake]).detach()

    def d_update(self, real: list[Tensor], outputs: dict[str, Tensor], n: int) -> tuple[Tensor, ...]:
        """D_B on real b against G_AB(a), detached; D_A likewise; returns (loss_d, mean D(real),
        mean D(fake)) over both."""
        state, loss = self.state, self.loss
        loss_d = d_real = d_fake = 0.0
        for g, d, _, _, tgt in DIRECTIONS:
            real_logits = self._judge(state.nets[d], real[tgt])
            fake_logits = self._judge(state.nets[d], outputs[g][:n].detach())
            loss_d = loss_d + loss.d_loss(real_logits, fake_logits)
            d_real, d_fake = d_real + real_logits.mean() / 2, d_fake + fake_logits.mean() / 2
        apply_update(state, "opt_d", loss_d, self.world)
        return loss_d, d_real, d_fake

    def g_update(self, real: list[Tensor], outputs: dict[str, Tensor], n: int, flip: bool) -> tuple[Tensor, ...]:
        """G and H of both directions on their objective (module docstring); D frozen, so the
        backward fills no gradient D never uses. Returns (loss_g, λ_adv·adversarial, NCE, NCE
        identity), each summed over the directions."""
        cfg, state, loss = self.cfg, self.state, self.loss
        for key in ("d_a", "d_b"):
            state.nets[key].requires_grad_(False)
        loss_adv = loss_nce = loss_idt = torch.zeros((), device=self.device)
        for g, d, head, src, tgt in DIRECTIONS:
            fake = outputs[g]
            loss_adv = loss_adv + cfg.lambda_adversarial * loss.g_loss(self._judge(state.nets[d], fake[:n]))
            loss_nce = loss_nce + self.nce(g, head, real[src], fake[:n], flip)
            if cfg.nce_identity:
                loss_idt = loss_idt + self.nce(g, head, real[tgt], fake[n:], flip)
        nce = (loss_nce + loss_idt) / 2 if cfg.nce_identity else loss_nce
        loss_g = loss_adv + cfg.lambda_nce * nce
        apply_update(state, "opt_g", loss_g, self.world)  # and the translators' EMA
        for key in ("d_a", "d_b"):
            state.nets[key].requires_grad_(True)
        return loss_g, loss_adv, loss_nce, loss_idt

    def nce(self, g: str, head: str, source: Tensor, translation: Tensor, flip: bool) -> Tensor:
        """PatchNCE between `translation` (the queries) and its `source` (the keys), averaged over
        the layers; the keys are G's features of the unflipped source, computed without a graph as
        the reference detaches them."""
        cfg, state = self.cfg, self.state
        translator, projector = state.nets[g], state.nets[head]
        with self.autocast():
            with torch.no_grad():
                keys = translator.features(source, cfg.nce_layers)
            queries = translator.features(translation, cfg.nce_layers)
        if flip:
            queries = [q.flip(3) for q in queries]
        locations = [self._locations(f) for f in keys]
        with self.autocast():
            k, q = projector(keys, locations), projector(queries, locations)
        losses = [patch_nce(qi, ki, images=len(source), temperature=cfg.nce_temperature) for qi, ki in zip(q, k)]
        return torch.stack(losses).mean()

    def _locations(self, feature: Tensor) -> Tensor:
        """`nce_patches` distinct locations of H·W (all of them when fewer), drawn with the training RNG."""
        rng = self.state.rng
        cells = feature.shape[2] * feature.shape[3]
        return torch.randperm(cells, generator=rng, device=rng.device)[: min(self.cfg.nce_patches, cells)]
