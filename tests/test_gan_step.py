"""The GAN training step (ganlab.training.gan.GANStep): the same training as the single closure
it replaced, no wasted work, and the properties that let it be captured as a CUDA graph."""

import copy
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from ganlab.config import parse_params
from ganlab.data.prepared import load_split
from ganlab.errors import GanlabError
from ganlab.nn.layers import SelfAttention, SpectralNorm
from ganlab.nn.losses import LOSSES, gradient_penalty
from ganlab.sampling import random_labels
from ganlab.training.gan import NoiseGAN
from tests.conftest import tiny_params


def _trainer(tmp_path, name, **overrides):
    params = parse_params(tiny_params(**{f"{name}.{k}": v for k, v in overrides.items()}))
    split = load_split(tmp_path / "train")
    cfg = params.model(name)
    return NoiseGAN(name=name, cfg=cfg, splits=[split], seed=0, device=torch.device("cpu")), cfg


def _freeze_power_iterations(trainer):
    # The old step ran D twice per D update, so two power iterations, the new one once: with the
    # vectors held still, everything else must agree.
    for net in trainer.state.nets.values():
        for module in net.modules():
            if isinstance(module, SpectralNorm):
                module.eval()


def _previous_step(trainer, cfg, optimizers):
    """The step as the single closure computed it: D on real and fake in two forwards, D's
    gradients in the G step, per-tensor Adam with float learning rates, lerp EMA (no lr decay,
    no mode seeking, fp32: the settings compared below)."""
    state, step = trainer.state, trainer.step
    G, rng, loss = state.nets["generator"], state.rng, LOSSES[cfg.loss]
    nc = G.num_classes

    def judge(x, y):
        return step.forward_d(step.augment(x), y)

    for _ in range(cfg.n_dis):
        real, real_y = step.real_batches.batch(cfg.batch_size)
        real_y = real_y if nc else None
        z = torch.randn(cfg.batch_size, cfg.z_dim, generator=rng)
        fake_y = random_labels(cfg.batch_size, nc, generator=rng, device=rng.device)
        with torch.no_grad():
            fake = G(z, fake_y)
        d_real, d_fake = judge(real, real_y), judge(fake, fake_y)
        loss_d = loss.d_loss(d_real, d_fake)
        if cfg.gp_weight > 0:
            alpha = torch.rand(cfg.batch_size, 1, 1, 1, generator=rng)
            loss_d = loss_d + cfg.gp_weight * gradient_penalty(judge, real, fake, fake_y, alpha)
        optimizers["d"].zero_grad(set_to_none=True)
        loss_d.backward()
        optimizers["d"].step()
    z = torch.randn(cfg.batch_size, cfg.z_dim, generator=rng)
    fake_y = random_labels(cfg.batch_size, nc, generator=rng, device=rng.device)
    loss_g = loss.g_loss(judge(G(z, fake_y), fake_y))
    optimizers["g"].zero_grad(set_to_none=True)
    loss_g.backward()
    optimizers["g"].step()
    decay = cfg.ema if state.iteration >= cfg.ema_start else 0.0
    for key, ema in state.averaged.items():
        with torch.no_grad():
            torch._foreach_lerp_(list(ema.parameters()), list(state.nets[key].parameters()), 1.0 - decay)
            for b_ema, b in zip(ema.buffers(), state.nets[key].buffers()):
                b_ema.copy_(b)


def outputs(new, old):
    """What both trainers' G, EMA G and D compute on fixed inputs: {net: (new's, old's, None)}."""
    cfg_z = new.step.cfg.z_dim
    z = torch.randn(16, cfg_z, generator=torch.Generator().manual_seed(5))
    y = torch.arange(16) % 10 if new.state.nets["generator"].num_classes else None
    x = torch.rand(16, 3, 32, 32, generator=torch.Generator().manual_seed(6)) * 2 - 1
    out = {}
    with torch.no_grad():
        for key in ("generator", *[f"{k}_ema" for k in new.state.averaged]):
            a, b = (t.state.averaged[key[:-4]] if key.endswith("_ema") else t.state.nets[key] for t in (new, old))
            out[key] = (a(z, y), b(z, y), None)
        a, b = (t.state.nets["discriminator"](x, y) for t in (new, old))
        out["discriminator"] = (a, b, None)
    return out


@pytest.mark.parametrize(
    "name, overrides",
    [
        ("dcgan", {}),  # BatchNorm D: separate forwards in both
        ("sagan", {"ema_start": 0, "ema": 0.9}),  # one joint D forward now, attention in both nets
        ("sagan", {"conditional": False, "loss": "wasserstein", "gp_weight": 10.0, "n_dis": 2}),
        ("sagan", {"diffaug": "color,translation,cutout"}),
    ],
)
def test_the_step_trains_as_the_previous_one(prepared, tmp_path, name, overrides):
    new, cfg = _trainer(tmp_path, name, **overrides)
    old, _ = _trainer(tmp_path, name, **overrides)
    _freeze_power_iterations(new), _freeze_power_iterations(old)
    optimizers = {
        k: torch.optim.Adam(old.state.nets[net].parameters(), lr=lr, betas=(cfg.beta1, cfg.beta2), foreach=False)
        for k, net, lr in (("d", "discriminator", cfg.lr_d), ("g", "generator", cfg.lr_g))
    }
    # Three iterations: Adam's state and the EMA are in play from the second on.
    before = {key: a.clone() for key, (a, _, _) in outputs(new, old).items()}
    for _ in range(3):
        new.step()
        _previous_step(old, cfg, optimizers)
        new.state.iteration += 1
        old.state.iteration += 1
    # Compared by what the nets compute, against how far training moved them: rounding
    # differences (one batch of 2B against two of B) grow through Adam's first, sign-like steps,
    # most in the GP run with two D steps per iteration, where 1e-7 of noise on D's weights
    # moves G's outputs by up to 2e-3 after three iterations. A conv bias in front of a
    # BatchNorm has a gradient of zero up to rounding, so its weights are no evidence either.
    for key, (a, b, _) in outputs(new, old).items():
        start = before[key]
        moved, apart = (a - start).abs(), (a - b).abs()
        assert apart.mean() < 0.01 * moved.mean() and apart.max() < 0.1 * moved.max(), key
    assert torch.equal(new.state.rng.get_state(), old.state.rng.get_state())  # the same draws, in order


def test_the_g_step_leaves_d_without_gradients(prepared, tmp_path):
    trainer, _ = _trainer(tmp_path, "sagan")
    D, G = trainer.state.nets["discriminator"], trainer.state.nets["generator"]
    trainer.step.g_step()
    assert all(p.grad is None for p in D.parameters())
    assert all(p.grad is not None for p in G.parameters() if p.requires_grad)
    assert all(p.requires_grad for p in D.parameters())  # thawed for the next D step


@pytest.mark.parametrize("name, joint", [("sagan", True), ("dcgan", False)])
def test_d_sees_real_and_fake_in_one_forward_unless_it_has_batchnorm(prepared, tmp_path, name, joint):
    trainer, cfg = _trainer(tmp_path, name)
    D = trainer.state.nets["discriminator"]
    batches = []
    D.register_forward_pre_hook(lambda module, args: batches.append(len(args[0])))
    trainer.step.d_step()
    assert batches == ([2 * cfg.batch_size] if joint else [cfg.batch_size, cfg.batch_size])


def test_spectral_norm_updates_its_vectors_in_place():
    conv = torch.nn.utils.parametrize.register_parametrization(
        torch.nn.Linear(6, 5), "weight", SpectralNorm(torch.randn(5, 6))
    )
    norm = conv.parametrizations.weight[0]
    u, v = norm._u, norm._v
    before = u.clone(), v.clone()
    with torch.no_grad():
        conv.parametrizations.weight.original.mul_(torch.randn(5, 6))  # new weights: u, v move
    conv(torch.randn(2, 6))
    assert norm._u is u and norm._v is v  # the same storage a captured graph would read
    assert not torch.equal(u, before[0]) and not torch.equal(v, before[1])


def test_learning_rates_and_ema_weight_are_device_tensors_filled_in_place(prepared, tmp_path):
    trainer, cfg = _trainer(tmp_path, "sagan", ema=0.9, ema_start=2, lr_decay="linear", lr_decay_start=1)
    state = trainer.state
    lrs = [group["lr"] for opt in state.optimizers.values() for group in opt.param_groups]
    weight = state.ema_weight
    seen = []
    for _ in range(3):
        trainer.step()
        seen.append((float(state.optimizers["opt_g"].param_groups[0]["lr"]), float(state.ema_weight)))
        state.iteration += 1
    assert all(isinstance(lr, torch.Tensor) for lr in lrs) and state.ema_weight is weight
    assert [group["lr"] for opt in state.optimizers.values() for group in opt.param_groups] == lrs  # same objects
    scale = [1.0, 1.0, 1.0 - 1 / (cfg.iterations - 1)]
    expected = [(cfg.lr_g * s, w) for s, w in zip(scale, (1.0, 1.0, 0.1))]
    assert [x for pair in seen for x in pair] == pytest.approx([x for pair in expected for x in pair])


def test_gradient_penalty_runs_where_the_fused_attention_kernel_has_no_double_backward():
    # Equal query and value widths send the CPU to its flash kernel, whose backward has no
    # derivative (pytorch#116350): the penalty's D forward must not use it.
    class D(torch.nn.Module):
        def forward(self, x, y):
            seq = x.flatten(2).transpose(1, 2)[:, None]  # N×1×HW×C
            return F.scaled_dot_product_attention(seq, seq, seq, scale=1.0).mean((1, 2, 3))

    real, fake, alpha = torch.randn(4, 8, 4, 4), torch.randn(4, 8, 4, 4), torch.rand(4, 1, 1, 1)
    penalty = gradient_penalty(D(), real, fake.requires_grad_(True), None, alpha)
    penalty.backward()
    assert torch.isfinite(penalty) and fake.grad is not None and fake.grad.abs().sum() > 0


def test_gradient_penalty_trains_csagan_with_attention_in_bf16(prepared, tmp_path):
    trainer, _ = _trainer(tmp_path, "sagan", loss="wasserstein", gp_weight=10.0, precision="bf16")
    assert any(isinstance(m, SelfAttention) for m in trainer.state.nets["discriminator"].modules())
    assert torch.isfinite(trainer.step()).all()


def test_the_penalty_labels_interpolates_with_the_real_classes(prepared, tmp_path, monkeypatch):
    import ganlab.training.gan as gan

    trainer, _ = _trainer(tmp_path, "sagan", loss="wasserstein", gp_weight=10.0)
    seen = {}
    real_batch = trainer.step.real_batches.batch

    def recording_batch(n):
        images, labels = real_batch(n)
        seen["real"] = labels
        return images, labels

    def recording_penalty(judge, real, fake, labels, alpha):
        seen["penalty"] = labels
        return torch.zeros(())

    monkeypatch.setattr(trainer.step.real_batches, "batch", recording_batch)
    monkeypatch.setattr(gan, "gradient_penalty", recording_penalty)
    trainer.step.d_step()
    assert torch.equal(seen["penalty"], seen["real"])


def test_graph_capture_on_a_cpu_is_refused_by_name(prepared, tmp_path):
    with pytest.raises(GanlabError, match=r"sagan.graph=true captures .* CUDA device; found cpu"):
        _trainer(tmp_path, "sagan", graph=True)


@pytest.mark.parametrize("name", ["dcgan", "sagan"])
def test_compile_with_a_gradient_penalty_is_refused_before_anything_is_built(prepared, tmp_path, name, monkeypatch):
    """torch 2.14's aot_autograd has no double backward (seen: "torch.compile with aot_autograd
    does not currently support double backward" at the first D step); refused naming both keys."""
    monkeypatch.setattr("ganlab.training.gan.build_state", lambda *a, **k: pytest.fail("built before the check"))
    with pytest.raises(GanlabError, match=rf"{name}.compile=true with {name}.gp_weight=10.0: .* double backward; "
                                          rf"set {name}.compile=false or {name}.gp_weight=0"):  # fmt: skip
        _trainer(tmp_path, name, compile=True, gp_weight=10.0)


def test_graph_capture_of_a_host_side_training_set_is_refused():
    from ganlab.training.graphs import check_graph_batches

    cfg = parse_params(tiny_params(**{"sagan.graph": True})).sagan
    on_host = SimpleNamespace(images=torch.zeros(2**20, dtype=torch.uint8), device=torch.device("cuda"))
    with pytest.raises(GanlabError, match=r"sagan.graph=true needs the training set in GPU memory, .* 25% of the free"):
        check_graph_batches("sagan", cfg, on_host)
    check_graph_batches("sagan", cfg, SimpleNamespace(images=torch.zeros(1), device=torch.device("cpu")))  # with it


def test_resume_keeps_the_tensor_learning_rates_that_the_schedule_alone_writes(prepared, tmp_path):
    trainer, cfg = _trainer(tmp_path, "sagan")
    built = {key: opt.param_groups[0]["lr"] for key, opt in trainer.state.optimizers.items()}
    saved = copy.deepcopy(trainer.state.state_dict({}))
    for key in ("opt_g", "opt_d"):  # as checkpoints written before the rates were tensors
        for group in saved[key]["param_groups"]:
            group["lr"], group["fused"] = 0.5, None
    trainer.state.load_state_dict(saved)
    group = trainer.state.optimizers["opt_g"].param_groups[0]
    assert group["lr"] is built["opt_g"] and group["fused"]  # the step's own tensor, not the saved float
    assert torch.isfinite(trainer.step()).all()
    assert float(group["lr"]) == pytest.approx(cfg.lr_g)  # set_schedules filled it before the step
    assert float(trainer.state.optimizers["opt_d"].param_groups[0]["lr"]) == pytest.approx(cfg.lr_d)
