import json
import os
import subprocess
import sys

import pytest
import torch
import yaml
from PIL import Image

from ganlab.config import parse_params
from ganlab.errors import GanlabError
from ganlab.io import load_checkpoint
from ganlab.nn.losses import LOSSES, Loss
from ganlab.sampling import resolve_device
from ganlab.training.checkpoints import list_snapshots, load_generator, snapshot_iteration
from ganlab.training.gan import build_state, with_standing_stats
from ganlab.training.live import read_history
from ganlab.training.loop import train
from tests.conftest import REPO, assert_same_history, kill_when, tiny_params


def assert_resumes(run, *, at: int, capsys, snapshot_dir) -> None:
    """`run()` continues the run saved at iteration `at` instead of starting over: it says so,
    and the snapshot of iteration `at` is the same file, untouched (a fresh start discards the
    stale snapshots and writes them again)."""
    snap = snapshot_dir / f"iter_{at:06d}.pt"
    before = snap.stat()
    capsys.readouterr()
    run()
    out = capsys.readouterr().out
    assert f"at iteration {at}" in out and "resuming from" in out, f"did not resume at {at}:\n{out}"
    after = snap.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns), f"{snap} was written again"


def _train(tmp_path, name="sagan", out="run", **overrides):
    params = parse_params(tiny_params(**{f"{name}.{k}": v for k, v in overrides.items()}))
    return train(
        name,
        params.model(name),
        seed=params.seeds[0],
        device="cpu",
        data_paths=[tmp_path / "train"],
        out_dir=tmp_path / out / "models",
        live_dir=tmp_path / out / "live",
        progress=False,
    )


@pytest.mark.parametrize("name", ["dcgan", "sagan"])
def test_one_step_changes_both_networks(prepared, tmp_path, name):
    params = parse_params(tiny_params())
    init = build_state(
        name, params.model(name), num_classes=10, resolution=32, seed=params.seeds[0], device=resolve_device("cpu")
    )
    state = _train(tmp_path, name, iterations=1)
    for before, after in ((init.nets[k], state.nets[k]) for k in ("generator", "discriminator")):
        changed = [not torch.equal(a, b) for a, b in zip(before.state_dict().values(), after.state_dict().values())]
        assert sum(changed) > len(changed) // 2


def test_checkpoint_cadence_and_contents(prepared, tmp_path):
    _train(tmp_path, iterations=5, ckpt_every=2, log_every=2)
    folder = tmp_path / "run/models/checkpoints"
    # Every ckpt_every iterations, plus the final iteration.
    assert [p.name for p in sorted(folder.iterdir())] == ["iter_000002.pt", "iter_000004.pt", "iter_000005.pt"]
    assert [snapshot_iteration(p) for p in list_snapshots(folder)] == [2, 4, 5]
    snap = load_checkpoint(folder / "iter_000004.pt")
    assert snap["iteration"] == 4 and snap["num_classes"] == 10 and len(snap["classes"]) == 10
    assert snap["config"]["model"] == "sagan" and snap["config"]["params"]["iterations"] == 5
    assert set(snap) == {"generator", "config", "iteration", "num_classes", "classes", "image_shape"}
    G, _ = load_generator(folder / "iter_000004.pt")
    assert G(torch.randn(2, G.z_dim), torch.tensor([0, 1])).shape == (2, 3, 32, 32)
    last = load_checkpoint(tmp_path / "run/models/last.pt")
    assert {"generator", "discriminator", "generator_ema", "opt_g", "opt_d", "rng", "iteration", "config"} <= set(last)
    assert last["iteration"] == 5 and last["opt_d"]["state"]
    # The snapshot holds the EMA generator, not the raw one.
    assert torch.equal(
        load_checkpoint(folder / "iter_000005.pt")["generator"]["linear.parametrizations.weight.original"],
        last["generator_ema"]["linear.parametrizations.weight.original"],
    )
    # DVCLive: a row per metric at every log_every and checkpoint iteration, a preview per checkpoint.
    live = tmp_path / "run/live"
    keys = {"loss_d", "loss_g", "d_real", "d_fake", "lr_g", "lr_d", "gamma_g_attention", "gamma_d_attention",
            "it_per_s", "seconds"}  # fmt: skip
    assert {p.stem for p in (live / "plots/metrics").glob("*.tsv")} == keys
    assert read_history(live, "loss_d")[0] == [2, 4]  # the final checkpoint (5) adds a preview, not a row
    assert read_history(live, "lr_d")[1] == [4e-4] * 2
    summary = json.loads((live / "metrics.json").read_text())
    assert summary["step"] == 5 and keys <= set(summary)
    previews = sorted((live / "plots/images/samples").iterdir())
    assert [p.name for p in previews] == ["2.png", "4.png", "5.png"]
    # 8×8 grid of 32-px samples, each upscaled ×4, with 2-px borders
    assert Image.open(previews[0]).size == (8 * 34 * 4 + 2 * 4,) * 2
    assert not (tmp_path / "dvc.yaml").exists() and not (live / "dvc.yaml").exists()


def _final_weights(path):
    state = load_checkpoint(path)
    weights = {k: v for k, v in state.items() if k not in ("config", "iteration", "elapsed", "rng", "opt_g", "opt_d")}
    assert {"generator", "discriminator"} <= set(weights) or {"g_ab", "g_ba", "d_a", "d_b"} <= set(weights)
    return weights


def _assert_same_weights(a, b):
    assert set(a) == set(b)
    for part in a:
        for key, value in a[part].items():  # tensors, or an image pool's size and count
            same = torch.equal(value, b[part][key]) if isinstance(value, torch.Tensor) else value == b[part][key]
            assert same, f"{part}.{key}"


def test_extending_iterations_resumes_exactly(prepared, tmp_path, capsys):
    _train(tmp_path, out="straight", iterations=6)
    _train(tmp_path, out="extended", iterations=2)
    assert_resumes(lambda: _train(tmp_path, out="extended", iterations=6), at=2, capsys=capsys,
                   snapshot_dir=tmp_path / "extended/models/checkpoints")  # fmt: skip
    _assert_same_weights(
        _final_weights(tmp_path / "straight/models/last.pt"), _final_weights(tmp_path / "extended/models/last.pt")
    )


def test_killed_run_resumes_to_the_same_weights(prepared, tmp_path):
    # log_every 1: rows past the last checkpoint exist when the kill comes, and must be dropped.
    p = tiny_params(**{"sagan.iterations": 24, "sagan.ckpt_every": 3, "sagan.log_every": 1})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(p))
    cmd = [sys.executable, str(REPO / "stages/train.py"), "--params", str(tmp_path / "params.yaml"), "--model", "sagan",
           "--seed", "0", "--data", str(tmp_path / "train")]  # fmt: skip

    def args(out):
        return cmd + ["--out", str(tmp_path / out / "models"), "--live", str(tmp_path / out / "live")]

    env = dict(os.environ, OMP_NUM_THREADS="1")  # one thread: identical reductions in both runs
    subprocess.run(args("straight"), check=True, env=env, capture_output=True)
    kill_when(args("killed"), appears=tmp_path / "killed/models/checkpoints/iter_000006.pt", env=env)
    assert not (tmp_path / "killed/models/checkpoints/iter_000024.pt").exists()
    resumed = subprocess.run(args("killed"), check=True, env=env, capture_output=True, text=True)
    assert "resuming from" in resumed.stdout
    _assert_same_weights(
        _final_weights(tmp_path / "straight/models/last.pt"), _final_weights(tmp_path / "killed/models/last.pt")
    )
    assert_same_history(tmp_path / "straight/live", tmp_path / "killed/live", steps=list(range(1, 25)))


def test_config_change_starts_fresh_and_sets_the_old_run_aside(prepared, tmp_path, capsys):
    _train(tmp_path, iterations=4, ckpt_every=1)
    old_last = load_checkpoint(tmp_path / "run/models/last.pt")["discriminator"]
    _train(tmp_path, iterations=2, ckpt_every=1, lr_d=1e-3)
    out = capsys.readouterr().out
    assert "sagan.lr_d: 0.0004 -> 0.001" in out
    (aside,) = (tmp_path / "run/models.set-aside").iterdir()  # moved, not deleted, and named
    assert f"moved to {aside}" in out
    assert [p.name for p in list_snapshots(aside / "checkpoints")] == [f"iter_{i:06d}.pt" for i in (1, 2, 3, 4)]
    _assert_same_weights({"d": old_last}, {"d": load_checkpoint(aside / "last.pt")["discriminator"]})
    folder = tmp_path / "run/models/checkpoints"
    assert [p.name for p in sorted(folder.iterdir())] == ["iter_000001.pt", "iter_000002.pt"]
    assert load_checkpoint(folder / "iter_000002.pt")["config"]["params"]["lr_d"] == 1e-3
    live = tmp_path / "run/live"
    assert read_history(live, "lr_d") == ([1, 2], [1e-3, 1e-3])  # the old run's history is gone with it
    assert sorted(p.name for p in (live / "plots/images/samples").iterdir()) == ["1.png", "2.png"]


def test_speed_and_logging_switches_resume_the_run(prepared, tmp_path, capsys):
    """compile, graph, log_every and ckpt_every change how a run is executed or
    recorded, not what it trains: switching them after a stop resumes, and the result is the
    uninterrupted run's."""
    _train(tmp_path, "dcgan", out="straight", iterations=4, ckpt_every=2)
    _train(tmp_path, "dcgan", out="switched", iterations=2, ckpt_every=2)
    assert_resumes(
        lambda: _train(tmp_path, "dcgan", out="switched", iterations=4, ckpt_every=1, log_every=2, compile=True),
        at=2, capsys=capsys, snapshot_dir=tmp_path / "switched/models/checkpoints",
    )  # fmt: skip
    assert not (tmp_path / "switched/models.set-aside").exists()
    assert load_checkpoint(tmp_path / "switched/models/last.pt")["iteration"] == 4
    # compiled on the CPU: the same model to float rounding (inductor fuses differently)
    a, b = (_final_weights(tmp_path / f"{r}/models/last.pt")["generator"] for r in ("straight", "switched"))
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5)


def test_lowering_iterations_keeps_every_snapshot_it_covers(prepared, tmp_path, capsys):
    _train(tmp_path, "dcgan", iterations=6, ckpt_every=2)
    folder = tmp_path / "run/models/checkpoints"
    before = {p.name: p.read_bytes() for p in list_snapshots(folder)}
    state = _train(tmp_path, "dcgan", iterations=3, ckpt_every=2)
    out = capsys.readouterr().out
    assert state.iteration == 6 and "already trained" in out and "iterations=3 is below last.pt's 6" in out
    assert [p.name for p in list_snapshots(folder)] == ["iter_000002.pt"]  # what FID scores: the first 3
    assert sorted(p.name for p in list_snapshots(folder / "beyond_iterations")) == ["iter_000004.pt", "iter_000006.pt"]
    assert (folder / "iter_000002.pt").read_bytes() == before["iter_000002.pt"]
    _train(tmp_path, "dcgan", iterations=6, ckpt_every=2)  # raised again: every snapshot is back
    assert {p.name: p.read_bytes() for p in list_snapshots(folder)} == before


@pytest.mark.parametrize("name", ["last.pt", "iter_.pt", "iter_12a.pt", "step_001000.pt"])
def test_snapshot_iteration_names_a_file_that_is_not_a_snapshot(name):
    with pytest.raises(GanlabError, match=rf"{name}: not a snapshot name \(expected iter_<iteration>\.pt"):
        snapshot_iteration(name)


def test_corrupt_checkpoint_is_named(prepared, tmp_path):
    _train(tmp_path, iterations=2)
    last = tmp_path / "run/models/last.pt"
    last.write_bytes(last.read_bytes()[:1000])
    with pytest.raises(GanlabError, match=r"last.pt: checkpoint is truncated or corrupt"):
        _train(tmp_path, iterations=4)
    snap = tmp_path / "run/models/checkpoints/iter_000002.pt"
    snap.write_bytes(b"not a checkpoint")
    with pytest.raises(GanlabError, match=r"iter_000002.pt: checkpoint is truncated or corrupt"):
        load_generator(snap)


def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(prepared, tmp_path, monkeypatch):
    calls = {"n": 0}
    hinge = LOSSES["hinge"]

    def d_loss(real, fake):  # finite for 5 iterations, then NaN
        calls["n"] += 1
        out = hinge.d_loss(real, fake)
        return out * float("nan") if calls["n"] > 5 else out

    monkeypatch.setitem(LOSSES, "hinge", Loss(d_loss, hinge.g_loss))
    with pytest.raises(GanlabError, match=r"non-finite loss at iteration 6.*iter_000004.pt"):
        _train(tmp_path, iterations=10, ckpt_every=2, log_every=4)
    folder = tmp_path / "run/models/checkpoints"
    assert [p.name for p in sorted(folder.iterdir())] == ["iter_000002.pt", "iter_000004.pt"]
    assert load_checkpoint(tmp_path / "run/models/last.pt")["iteration"] == 4


def test_standing_stats_measure_the_generators_own_activations():
    params = parse_params(tiny_params())
    G = (
        build_state("dcgan", params.dcgan, num_classes=10, resolution=32, seed=0, device=resolve_device("cpu"))
        .nets["generator"]
        .eval()
    )
    first_bn = G.net[1]
    with torch.no_grad():
        first_bn.running_mean.fill_(100.0)  # stale statistics, as copied from another network
    inputs = []
    snapshot_bn_input = lambda m, args: inputs.append(args[0].detach())  # noqa: E731
    snapshot = with_standing_stats(G, seed=3, batches=4, batch_size=8)
    assert torch.equal(G.net[1].running_mean, torch.full_like(G.net[1].running_mean, 100.0))  # G untouched
    # Re-run the same draws through a copy to see what the first BN received.
    probe = with_standing_stats(G, seed=3, batch_size=8, batches=0)
    probe.net[1].train().register_forward_pre_hook(snapshot_bn_input)
    rng = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for _ in range(4):
            probe(torch.randn(8, G.z_dim, generator=rng))
    expected = torch.cat(inputs).float().mean(dim=(0, 2, 3))
    torch.testing.assert_close(snapshot.net[1].running_mean, expected, rtol=1e-5, atol=1e-6)
    assert not snapshot.training


def test_ema_snapshot_has_its_own_batchnorm_statistics(prepared, tmp_path, monkeypatch):
    measured_at = []

    def recording(generator, **kwargs):
        measured_at.append(kwargs["batch_size"])
        return with_standing_stats(generator, **kwargs)

    monkeypatch.setattr("ganlab.training.gan.with_standing_stats", recording)
    _train(tmp_path, iterations=4, ckpt_every=4)
    assert measured_at == [8]  # the training batch of tiny_params, not a fixed size
    snap = load_checkpoint(tmp_path / "run/models/checkpoints/iter_000004.pt")["generator"]
    ema = load_checkpoint(tmp_path / "run/models/last.pt")["generator_ema"]
    for key in snap:
        if "running_" in key or key.endswith(("._u", "._v")):
            assert not torch.equal(snap[key], ema[key]), key  # re-measured, not G's copied ones
        elif "num_batches_tracked" not in key:
            assert torch.equal(snap[key], ema[key]), key  # the averaged weights themselves
    # the snapshot's σ estimates are those of the averaged weights: u·W·v against the true norm
    sn_weights = [k.removesuffix("._u") for k in snap if k.endswith("._u")]
    assert sn_weights
    for prefix in sn_weights:
        weight = snap[f"{prefix.removesuffix('.0')}.original"].flatten(1)
        true = float(torch.linalg.matrix_norm(weight, 2))
        own = float(torch.dot(snap[f"{prefix}._u"], weight @ snap[f"{prefix}._v"]))
        copied = float(torch.dot(ema[f"{prefix}._u"], weight @ ema[f"{prefix}._v"]))
        # at least as close as G's copied vectors (to float32 rounding: both may be exact)
        assert own == pytest.approx(true, rel=5e-3), prefix
        assert abs(own - true) <= abs(copied - true) + 4 * torch.finfo(torch.float32).eps * true, prefix


def test_diffaug_changes_the_step_and_gradients_reach_g_through_it(prepared, tmp_path, monkeypatch):
    import ganlab.training.gan as loop

    seen = []
    real_augment = loop.diff_augment

    def spy(x, policies, *, generator, world):
        out = real_augment(x, policies, generator=generator, world=world)
        seen.append((x.requires_grad, policies))
        return out

    monkeypatch.setattr(loop, "diff_augment", spy)
    plain = _train(tmp_path, "dcgan", out="plain", iterations=1)
    augmented = _train(tmp_path, "dcgan", out="aug", iterations=1, diffaug="color,translation,cutout")
    # n_dis 1: D sees real and fake in the D step, then fake in the G step, where fake carries G's graph.
    assert seen == [(False, ["color", "translation", "cutout"])] * 2 + [(True, ["color", "translation", "cutout"])]
    g_plain, g_aug = plain.nets["generator"].state_dict(), augmented.nets["generator"].state_dict()
    assert any(not torch.equal(g_plain[k], g_aug[k]) for k in g_plain if g_plain[k].is_floating_point())


@pytest.mark.parametrize("option", [{"diffaug": "color,translation,cutout"}, {"mode_seeking": 1.0}])
def test_run_with_extra_draws_resumes_bit_exactly(prepared, tmp_path, option, capsys):
    _train(tmp_path, out="straight", iterations=6, ckpt_every=2, **option)
    _train(tmp_path, out="resumed", iterations=2, ckpt_every=2, **option)
    assert_resumes(lambda: _train(tmp_path, out="resumed", iterations=6, ckpt_every=2, **option), at=2,
                   capsys=capsys, snapshot_dir=tmp_path / "resumed/models/checkpoints")  # fmt: skip
    _assert_same_weights(
        _final_weights(tmp_path / "straight/models/last.pt"), _final_weights(tmp_path / "resumed/models/last.pt")
    )


def test_mode_seeking_pairs_g_batch_by_class_and_adds_its_term(prepared, tmp_path, monkeypatch):
    import ganlab.training.gan as loop

    labels_seen, penalties = [], []
    real_build, real_penalty = loop.build_discriminator, loop.mode_seeking_penalty

    def build_recording(*args, **kwargs):
        D = real_build(*args, **kwargs)
        D.register_forward_hook(lambda module, inputs, output: labels_seen.append(inputs[1].clone()))
        return D

    def penalty_recording(images, z):
        penalties.append((images.requires_grad, images.dtype, len(z)))
        return real_penalty(images, z)

    monkeypatch.setattr(loop, "build_discriminator", build_recording)
    monkeypatch.setattr(loop, "mode_seeking_penalty", penalty_recording)
    plain = _train(tmp_path, out="plain", iterations=1)
    assert not penalties
    paired = _train(tmp_path, out="paired", iterations=1, mode_seeking=1.0)
    batch = parse_params(tiny_params()).model("sagan").batch_size
    assert penalties == [(True, torch.float32, batch)]  # on G's graph, once per G step
    g_step_labels = labels_seen[-1]  # D(real), D(fake) in the D step, then D(fake) in the G step
    assert len(g_step_labels) == batch and torch.equal(g_step_labels[0::2], g_step_labels[1::2])
    g_plain, g_paired = plain.nets["generator"].state_dict(), paired.nets["generator"].state_dict()
    assert any(not torch.equal(g_plain[k], g_paired[k]) for k in g_plain if g_plain[k].is_floating_point())


def test_mode_seeking_refuses_an_odd_batch(prepared, tmp_path):
    with pytest.raises(GanlabError, match=r"sagan.batch_size=7: sagan.mode_seeking .* even number of rows .* found 7"):
        _train(tmp_path, iterations=1, batch_size=7, mode_seeking=1.0)


@pytest.mark.parametrize("resolution", [64, 128])
@pytest.mark.parametrize("name", ["dcgan", "sagan"])
def test_networks_follow_the_data_resolution(tmp_path, name, resolution):
    import numpy as np

    from tests.conftest import write_prepared

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(16, 3, resolution, resolution), dtype=np.uint8)
    write_prepared(tmp_path / "train", images, np.arange(16) % 2, ["a", "b"])
    # D's widest block is d_ch and its 16-px block d_ch/8 at 64 px: attention there needs 8 channels.
    sagan = {"attention_res": 16, "g_ch": 32, "d_ch": 64} if name == "sagan" else {}
    _train(tmp_path, name, iterations=1, ckpt_every=1, **sagan)
    snap = load_checkpoint(tmp_path / "run/models/checkpoints/iter_000001.pt")
    assert snap["image_shape"] == [3, resolution, resolution] and snap["config"]["resolution"] == resolution
    G, _ = load_generator(tmp_path / "run/models/checkpoints/iter_000001.pt")
    labels = torch.tensor([0, 1]) if G.num_classes else None
    assert G(torch.randn(2, G.z_dim), labels).shape == (2, 3, resolution, resolution)


def test_unlabelled_data_refuses_a_conditional_sagan_and_a_too_large_batch(tmp_path):
    import numpy as np

    from tests.conftest import write_prepared

    images = np.zeros((6, 3, 32, 32), dtype=np.uint8)
    write_prepared(tmp_path / "train", images, np.zeros(6, dtype=np.int64), [])
    with pytest.raises(GanlabError, match=r"sagan.conditional=true, but .* no classes.*-S sagan.conditional=false"):
        _train(tmp_path, "sagan", iterations=1, batch_size=4)
    with pytest.raises(GanlabError, match=r"dcgan.batch_size=8: the training set holds only 6 images"):
        _train(tmp_path, "dcgan", iterations=1)
    state = _train(tmp_path, "sagan", iterations=1, batch_size=4, conditional=False)
    assert state.nets["generator"].num_classes == 0


def test_training_without_a_live_directory_writes_checkpoints_only(prepared, tmp_path):
    params = parse_params(tiny_params())
    train(
        "dcgan",
        params.model("dcgan"),
        seed=0,
        device="cpu",
        data_paths=[tmp_path / "train"],
        out_dir=tmp_path / "models",
        live_dir=None,
        progress=False,
    )
    assert sorted(p.name for p in (tmp_path / "models" / "checkpoints").iterdir()) == [
        "iter_000002.pt",
        "iter_000004.pt",
    ]
    assert not list(tmp_path.rglob("*.tsv")) and not list(tmp_path.rglob("metrics.json"))


def test_a_run_saved_before_the_newer_sagan_keys_resumes_and_loads(prepared, tmp_path, capsys):
    """Runs saved before class_embedding, hierarchical_z, g_spectral_norm, mode_seeking, graph,
    lr_decay_start and lr_decay_d existed were built as their defaults now build them: they
    resume (nothing is deleted) and their snapshots load."""
    from ganlab.io import atomic_torch_save
    from ganlab.training.checkpoints import ADDED_KEYS

    _train(tmp_path, iterations=2, ckpt_every=1)
    last = tmp_path / "run/models/last.pt"
    for path in [last, *sorted((tmp_path / "run/models/checkpoints").iterdir())]:
        ckpt = load_checkpoint(path)
        for key in [key for keys in ADDED_KEYS.values() for key in keys]:
            ckpt["config"]["params"].pop(key, None)  # CycleGAN's keys are not sagan's
        atomic_torch_save(ckpt, path)
    generator, _ = load_generator(tmp_path / "run/models/checkpoints/iter_000002.pt")
    assert generator(torch.randn(2, generator.z_dim), torch.tensor([0, 1])).shape == (2, 3, 32, 32)
    _train(tmp_path, iterations=3, ckpt_every=1)
    assert "resuming from" in capsys.readouterr().out
    # The filled-in values are the old behaviour: a run asking for a plain G does not resume.
    _train(tmp_path, iterations=4, ckpt_every=1, g_spectral_norm=False)
    assert "sagan.g_spectral_norm: True -> False" in capsys.readouterr().out


def test_bf16_on_a_cpu_without_native_bf16_warns_with_its_cost(tmp_path, capsys):
    from ganlab.training.device import warn_emulated_bf16

    cfg = parse_params(tiny_params(**{"dcgan.precision": "bf16"})).dcgan
    avx2 = tmp_path / "avx2"
    avx2.write_text("flags\t\t: fpu sse sse2 avx avx2 fma\n")
    avx512 = tmp_path / "avx512"
    avx512.write_text("flags\t\t: fpu avx2 avx512f avx512_bf16\n")
    cpu = torch.device("cpu")
    assert warn_emulated_bf16("dcgan", cfg, cpu, cpuinfo=avx2)
    out = capsys.readouterr().out
    assert "dcgan.precision=bf16 on a CPU without native bf16" in out and "30x slower than fp32" in out
    assert not warn_emulated_bf16("dcgan", cfg, cpu, cpuinfo=avx512)
    assert not warn_emulated_bf16("dcgan", parse_params(tiny_params()).dcgan, cpu, cpuinfo=avx2)  # fp32
    assert not warn_emulated_bf16("dcgan", cfg, torch.device("cuda"), cpuinfo=avx2)

