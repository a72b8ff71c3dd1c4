"""Registries: a model family and its networks join through `register()`, and the loop trains any
registered name without knowing it."""

import pytest
import torch

from ganlab import models
from ganlab.config import DCGANConfig, parse_params
from ganlab.data.prepared import load_split
from ganlab.errors import GanlabError
from ganlab.models.dcgan import DCGANDiscriminator, DCGANGenerator
from ganlab.training import families
from ganlab.training.checkpoints import load_generator
from ganlab.training.gan import Batch, GANStep, NoiseGAN
from ganlab.training.live import read_history
from ganlab.training.loop import build_trainer, train
from ganlab.training.state import apply_update
from tests.conftest import tiny_params


class LeastSquaresStep(GANStep):
    """A family's own two updates (LSGAN, Mao et al. 2017) on the batches GANStep draws."""

    def d_update(self, batch: Batch):
        with torch.no_grad():
            fake = self.forward_g(batch.z, batch.fake_y)
        d_real, d_fake = self.judge(batch.real, batch.real_y), self.judge(fake, batch.fake_y)
        loss_d = 0.5 * ((d_real - 1).pow(2).mean() + d_fake.pow(2).mean())
        apply_update(self.state, "opt_d", loss_d, self.world)
        return loss_d.detach(), d_real.detach().mean(), d_fake.detach().mean()

    def g_update(self, batch: Batch):
        self.D.requires_grad_(False)
        loss_g = 0.5 * (self.judge(self.forward_g(batch.z, batch.fake_y), batch.fake_y) - 1).pow(2).mean()
        apply_update(self.state, "opt_g", loss_g, self.world)  # and the EMA
        self.D.requires_grad_(True)
        return loss_g.detach()


@pytest.fixture
def peer():
    """Registers "peer" (DCGAN's networks; a family with its own updates that logs one value of
    its own) and removes it after."""

    class PeerGAN(NoiseGAN):
        step_class = LeastSquaresStep

        def log_values(self):
            return {"g_weight_norm": torch.linalg.vector_norm(next(self.state.nets["generator"].parameters()))}

    models.register("peer", models.GAN(DCGANConfig, DCGANGenerator, DCGANDiscriminator))
    families.register("peer", PeerGAN)
    yield PeerGAN
    models.MODELS.pop("peer"), families.FAMILIES.pop("peer")


def test_a_registered_family_trains_through_the_loop_and_logs_its_own_values(prepared, tmp_path, peer):
    cfg = parse_params(tiny_params(**{"dcgan.log_every": 1})).dcgan
    state = train("peer", cfg, seed=0, device="cpu", data_paths=[tmp_path / "train"], out_dir=tmp_path / "models",
                  live_dir=tmp_path / "live", progress=False)  # fmt: skip
    assert state.iteration == cfg.iterations
    assert isinstance(peer(name="peer", cfg=cfg, splits=[load_split(tmp_path / "train")], seed=0,
                           device=torch.device("cpu")).step, LeastSquaresStep)  # fmt: skip
    _, losses = read_history(tmp_path / "live", "loss_d")
    assert all(0 < v < 1 for v in losses)  # least squares at D(x) ≈ 0: near ½·(1 + 0)
    steps, norms = read_history(tmp_path / "live", "g_weight_norm")
    assert steps == list(range(1, cfg.iterations + 1)) and all(v > 0 for v in norms)
    generator, _ = load_generator(tmp_path / f"models/checkpoints/iter_{cfg.iterations:06d}.pt")
    assert isinstance(generator, DCGANGenerator)  # the snapshot names "peer", found in the registry


def test_the_loop_checks_the_splits_against_the_familys_data_roles(prepared, tmp_path):
    cfg = parse_params(tiny_params()).cyclegan
    with pytest.raises(GanlabError, match=r"cyclegan trains on 2 prepared split\(s\) \(domain A, domain B\), given 1"):
        build_trainer("cyclegan", cfg, seed=0, device=torch.device("cpu"), splits=[object()])


def test_register_refuses_what_the_loop_could_not_train():
    class NoPreview:
        data_roles, stats = ("images",), ("loss_d", "loss_g")

        def log_values(self): ...

        def save_snapshot(self, path, **kw): ...

    with pytest.raises(GanlabError, match="NoPreview for 'x' lacks preview"):
        families.register("x", NoPreview)

    class LossesLast(NoiseGAN):
        stats = ("d_real", "loss_d", "loss_g")

    with pytest.raises(GanlabError, match="stats must start with loss_d, loss_g"):
        families.register("x", LossesLast)
    class Other(NoiseGAN):
        pass

    with pytest.raises(GanlabError, match="'dcgan' is already trained by NoiseGAN"):
        families.register("dcgan", Other)
    with pytest.raises(GanlabError, match="unknown model 'nope'; registered: cut, cyclegan, dcgan, sagan"):
        families.family_of("nope")
    assert "x" not in families.FAMILIES


def test_network_registry_refuses_a_second_set_under_one_name():
    with pytest.raises(GanlabError, match="networks for 'dcgan' are already registered"):
        models.register("dcgan", models.GAN(DCGANConfig, DCGANGenerator, DCGANGenerator))
    with pytest.raises(GanlabError, match="expected a GAN or a Translation, found tuple"):
        models.register("y", (DCGANConfig, DCGANGenerator, DCGANDiscriminator))
    models.register("dcgan", models.MODELS["dcgan"])  # the same networks again: a no-op
    assert models.MODELS["dcgan"].generator is DCGANGenerator
