"""bf16 autocast, the fp32 islands inside it, lr decay and torch.compile in the training loop."""

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from ganlab.config import parse_params
from ganlab.io import load_checkpoint
from ganlab.models import build_discriminator
from ganlab.nn.layers import BatchNorm2d, sn_linear
from ganlab.nn.losses import LOSSES, Loss
from ganlab.training.state import lr_scale
from tests.conftest import tiny_params
from tests.test_training import _assert_same_weights, _final_weights, _train, assert_resumes


class DtypeLog(TorchDispatchMode):
    """Records (op name, dtypes of its tensor arguments) for every op that runs."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        dtypes = [a.dtype for a in args if isinstance(a, torch.Tensor)]
        self.calls.append((func.overloadpacket.__name__, dtypes))
        return func(*args, **(kwargs or {}))


def test_spectral_norm_power_iteration_is_fp32_under_bf16_autocast():
    cfg = parse_params(tiny_params()).sagan
    D = build_discriminator("sagan", cfg, num_classes=10, resolution=32).train()
    with DtypeLog() as log, torch.autocast("cpu", dtype=torch.bfloat16):
        D(torch.randn(2, 3, 32, 32), torch.tensor([1, 2]))
    power = [(op, dt) for op, dt in log.calls if op in ("mv", "dot", "linalg_vector_norm", "div")]
    assert any(op == "mv" for op, _ in power) and any(op == "dot" for op, _ in power)
    assert all(d == torch.float32 for _, dt in power for d in dt), power
    # ...while the convolutions themselves did run in bf16: autocast is on for the rest.
    assert any(op == "convolution" and dt[0] == torch.bfloat16 for op, dt in log.calls)


def test_spectral_norm_runs_with_autocast_off(monkeypatch):
    # CPU autocast happens to leave `mv` in fp32; CUDA autocast runs it in bf16. The guard
    # that protects both is that the power iteration runs with autocast switched off.
    layer = sn_linear(16, 8).train()
    seen = []
    for op in ("mv", "dot"):
        original = getattr(torch, op)

        def spy(*args, _original=original, **kwargs):
            seen.append(torch.is_autocast_enabled("cpu"))
            return _original(*args, **kwargs)

        monkeypatch.setattr(torch, op, spy)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        layer(torch.randn(2, 16))
    assert len(seen) == 4 and not any(seen)  # two power-iteration mv, then mv and dot for σ


def test_spectral_norm_vectors_match_fp32_exactly_under_autocast():
    torch.manual_seed(0)
    layer = sn_linear(64, 32).train()
    x = torch.randn(4, 64)
    state = {k: v.clone() for k, v in layer.state_dict().items()}
    layer(x)
    u_fp32 = layer.parametrizations.weight[0]._u.clone()
    layer.load_state_dict(state)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = layer(x)
    assert out.dtype == torch.bfloat16  # the matmul is bf16...
    assert torch.equal(layer.parametrizations.weight[0]._u, u_fp32)  # ...the power iteration is not


def test_batchnorm_statistics_are_fp32_under_autocast():
    torch.manual_seed(0)
    bn, reference = BatchNorm2d(8), torch.nn.BatchNorm2d(8)
    x = torch.randn(16, 8, 4, 4).to(torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = bn(x)
    expected = reference(x.float())
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    torch.testing.assert_close(bn.running_var, reference.running_var, rtol=0, atol=0)


@pytest.mark.parametrize("name", ["dcgan", "sagan"])
def test_bf16_trains_and_keeps_weights_optimizer_and_ema_fp32(prepared, tmp_path, name):
    state = _train(tmp_path, name, iterations=3, precision="bf16")
    last = load_checkpoint(tmp_path / "run/models/last.pt")
    assert last["config"]["params"]["precision"] == "bf16"
    tensors = [t for net in (*state.nets.values(), *state.averaged.values()) for t in net.state_dict().values()]
    tensors += [t for opt in state.optimizers.values() for s in opt.state.values() for t in s.values()]
    floats = [t for t in tensors if t.is_floating_point()]
    assert floats and all(t.dtype == torch.float32 for t in floats)
    assert all(torch.isfinite(t).all() for t in floats)


def test_changed_precision_starts_fresh(prepared, tmp_path, capsys):
    _train(tmp_path, iterations=2)
    _train(tmp_path, iterations=4, precision="bf16")
    assert "sagan.precision: 'fp32' -> 'bf16'" in capsys.readouterr().out
    assert (
        load_checkpoint(tmp_path / "run/models/checkpoints/iter_000002.pt")["config"]["params"]["precision"] == "bf16"
    )


def test_linear_lr_decay_schedule(prepared, tmp_path):
    cfg = parse_params(tiny_params(**{"sagan.lr_decay": "linear", "sagan.iterations": 4})).sagan
    assert [lr_scale(cfg, i) for i in range(4)] == [1.0, 0.75, 0.5, 0.25]
    assert lr_scale(parse_params(tiny_params()).sagan, 3) == 1.0
    state = _train(tmp_path, iterations=4, lr_decay="linear")
    # The last step ran at a quarter of each learning rate.
    assert float(state.optimizers["opt_g"].param_groups[0]["lr"]) == pytest.approx(cfg.lr_g * 0.25)
    assert float(state.optimizers["opt_d"].param_groups[0]["lr"]) == pytest.approx(cfg.lr_d * 0.25)


def test_late_decay_of_g_alone(prepared, tmp_path):
    keys = {"sagan.lr_decay": "linear", "sagan.lr_decay_start": 2, "sagan.lr_decay_d": False, "sagan.iterations": 6}
    cfg = parse_params(tiny_params(**keys)).sagan
    assert [lr_scale(cfg, i) for i in range(6)] == [1.0, 1.0, 1.0, 0.75, 0.5, 0.25]
    state = _train(tmp_path, iterations=6, lr_decay="linear", lr_decay_start=2, lr_decay_d=False)
    assert float(state.optimizers["opt_g"].param_groups[0]["lr"]) == pytest.approx(cfg.lr_g * 0.25)
    assert float(state.optimizers["opt_d"].param_groups[0]["lr"]) == pytest.approx(cfg.lr_d)


def test_interrupted_linear_decay_run_resumes_exactly(prepared, tmp_path, monkeypatch, capsys):
    _train(tmp_path, out="straight", iterations=6, ckpt_every=2, lr_decay="linear")
    hinge, calls = LOSSES["hinge"], {"n": 0}

    def d_loss(real, fake):  # the run dies inside iteration 5, after the checkpoint at 4
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return hinge.d_loss(real, fake)

    monkeypatch.setitem(LOSSES, "hinge", Loss(d_loss, hinge.g_loss))
    with pytest.raises(KeyboardInterrupt):
        _train(tmp_path, out="killed", iterations=6, ckpt_every=2, lr_decay="linear")
    monkeypatch.setitem(LOSSES, "hinge", hinge)
    assert load_checkpoint(tmp_path / "killed/models/last.pt")["iteration"] == 4
    assert_resumes(lambda: _train(tmp_path, out="killed", iterations=6, ckpt_every=2, lr_decay="linear"), at=4,
                   capsys=capsys, snapshot_dir=tmp_path / "killed/models/checkpoints")  # fmt: skip
    _assert_same_weights(
        _final_weights(tmp_path / "straight/models/last.pt"), _final_weights(tmp_path / "killed/models/last.pt")
    )


def test_raising_iterations_under_linear_decay_starts_fresh(prepared, tmp_path, capsys):
    _train(tmp_path, iterations=2, lr_decay="linear")
    _train(tmp_path, iterations=4, lr_decay="linear")
    assert "sagan.iterations: 2 -> 4" in capsys.readouterr().out
    _train(tmp_path, out="constant", iterations=2)
    _train(tmp_path, out="constant", iterations=4)
    assert "resuming from" in capsys.readouterr().out


def test_compiled_run_resumes_to_the_same_weights(prepared, tmp_path, capsys):
    _train(tmp_path, "dcgan", out="straight", iterations=4, compile=True)
    _train(tmp_path, "dcgan", out="extended", iterations=2, compile=True)
    assert_resumes(lambda: _train(tmp_path, "dcgan", out="extended", iterations=4, compile=True), at=2,
                   capsys=capsys, snapshot_dir=tmp_path / "extended/models/checkpoints")  # fmt: skip
    _assert_same_weights(
        _final_weights(tmp_path / "straight/models/last.pt"), _final_weights(tmp_path / "extended/models/last.pt")
    )


@pytest.mark.parametrize("name", ["dcgan", "sagan"])
def test_bf16_run_resumes_bit_exactly(prepared, tmp_path, name, capsys):
    """On the CPU, autocast is deterministic: a bf16 run stopped at 2 and extended to 6 ends at the
    weights of one trained to 6 straight."""
    _train(tmp_path, name, out="straight", iterations=6, precision="bf16")
    _train(tmp_path, name, out="resumed", iterations=2, precision="bf16")
    assert_resumes(lambda: _train(tmp_path, name, out="resumed", iterations=6, precision="bf16"), at=2,
                   capsys=capsys, snapshot_dir=tmp_path / "resumed/models/checkpoints")  # fmt: skip
    _assert_same_weights(
        _final_weights(tmp_path / "straight/models/last.pt"), _final_weights(tmp_path / "resumed/models/last.pt")
    )
