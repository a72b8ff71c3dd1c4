"""CycleGAN: its networks, its step in the shared loop, exact resume, its domains and the
translate CLI."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from ganlab.config import ParamsError, parse_params
from ganlab.data.domains import parse_domain, prepare_domains
from ganlab.data.prepared import load_split
from ganlab.errors import GanlabError
from ganlab.io import load_checkpoint
from ganlab.models.cyclegan import PatchDiscriminator, ResnetTranslator
from ganlab.training.checkpoints import load_generator, load_translators
from ganlab.training.cyclegan import CycleGAN
from ganlab.training.live import read_history
from ganlab.training.loop import train
from ganlab.translate import main as translate_main
from tests.conftest import (
    REPO,
    assert_same_history,
    kill_when,
    save_test_snapshot,
    tiny_params,
    write_domains,
    write_image_folder,
)
from tests.test_training import _assert_same_weights, _final_weights


@pytest.mark.parametrize("resolution, patches", [(32, 6), (64, 6), (128, 14)])
def test_network_shapes(resolution, patches):
    x = torch.rand(2, 3, resolution, resolution) * 2 - 1
    y = ResnetTranslator(ch=4, n_res_blocks=2, resolution=resolution)(x)
    assert y.shape == x.shape and y.abs().max() <= 1
    assert PatchDiscriminator(ch=4, resolution=resolution)(x).shape == (2, 1, patches, patches)


def test_paired_folders_keep_their_pairs_on_the_same_side(domains):
    a, b = (load_split(domains / f"data/{d}/test") for d in "ab")
    assert a.keys == b.keys and len(a.keys) == 3 and a.classes == []
    assert torch.equal(a.images, 255 - b.images)  # each test A image sits beside its own negative
    assert parse_domain("fashion_mnist:Ankle boot") == ("fashion_mnist", "Ankle boot")


def _train(tmp_path, out="run", **overrides):
    p = yaml.safe_load((tmp_path / "params.yaml").read_text())
    p["cyclegan"].update(overrides)
    params = parse_params(p)
    data = [tmp_path / "data/a/train", tmp_path / "data/b/train"]
    return train("cyclegan", params.cyclegan, seed=0, device="cpu", data_paths=data, out_dir=tmp_path / out / "models",
                 live_dir=tmp_path / out / "live", progress=False)  # fmt: skip


def _trainer(domains, **overrides):
    p = yaml.safe_load((domains / "params.yaml").read_text())
    p["cyclegan"].update(overrides)
    splits = [load_split(domains / f"data/{d}/train") for d in "ab"]
    cfg = parse_params(p).cyclegan
    return CycleGAN(name="cyclegan", cfg=cfg, splits=splits, seed=0, device=torch.device("cpu"))


def test_one_step_trains_all_four_networks(domains):
    trainer = _trainer(domains)  # the committed defaults: identity term, pool, jitter and flip on
    before = {k: [p.detach().clone() for p in net.parameters()] for k, net in trainer.state.nets.items()}
    stats = trainer.step()
    assert torch.isfinite(stats).all() and stats[4] > 0  # the identity term
    for key, net in trainer.state.nets.items():
        assert any(not torch.equal(a, b) for a, b in zip(before[key], net.parameters())), key
    # each D's pool took this step's 4 translations
    assert [trainer.state.extras[k].count for k in ("pool_a", "pool_b")] == [4, 4]


def test_adversarial_weight_scales_the_g_terms_and_loss_g_is_the_whole_objective(domains):
    trainers = {w: _trainer(domains, lambda_adversarial=w) for w in (1.0, 2.0)}
    stats = {w: t.step() for w, t in trainers.items()}
    assert torch.allclose(stats[2.0][2], 2 * stats[1.0][2])  # the same batch and nets, twice the adversarial term
    assert torch.equal(stats[2.0][3], stats[1.0][3])  # the cycle term is the same
    for w, s in stats.items():  # loss_g = λ_adv·adversarial (logged weighted) + λ_cycle·cycle + λ_identity·identity
        cfg = trainers[w].cfg
        assert cfg.lambda_cycle > 0 and cfg.lambda_identity > 0
        assert torch.allclose(s[1], s[2] + cfg.lambda_cycle * s[3] + cfg.lambda_identity * s[4], rtol=1e-5)
    assert dict(zip(trainers[1.0].stats, range(7)))["loss_g"] == 1


def test_inputs_are_jittered_and_flipped_with_the_training_rng(domains):
    plain = _trainer(domains, jitter=1.0, flip=False)
    jittered = _trainer(domains)
    a_plain, a_jittered = plain._input(plain.batches[0]), jittered._input(jittered.batches[0])
    assert a_plain.shape == a_jittered.shape and not torch.equal(a_plain, a_jittered)
    again = _trainer(domains)
    assert torch.equal(again._input(again.batches[0]), a_jittered)  # the seed alone decides


def test_cycle_and_identity_weights_enter_the_objective(domains):
    runs = {
        lam: _train(domains, out=f"l{lam}", iterations=1, lambda_cycle=lam, lambda_identity=0.0) for lam in (0.0, 10.0)
    }
    g0, g10 = (runs[lam].nets["g_ab"].state_dict() for lam in (0.0, 10.0))
    assert any(not torch.equal(g0[k], g10[k]) for k in g0)
    idt = _train(domains, out="idt", iterations=1, lambda_cycle=10.0, lambda_identity=5.0)
    assert all(v > 0 for v in read_history(domains / "idt/live", "loss_identity")[1])
    # the same seed and batch with the identity term weighted: G's first step is another one
    g_idt = idt.nets["g_ab"].state_dict()
    assert any(not torch.equal(g10[k], g_idt[k]) for k in g10)


def test_snapshots_hold_both_translators_and_the_ema(domains):
    state = _train(domains, iterations=4, ema=0.9)
    snap = load_checkpoint(domains / "run/models/checkpoints/iter_000004.pt")
    assert snap["image_shape"] == [3, 32, 32] and snap["iteration"] == 4
    for key in ("g_ab", "g_ba"):
        ema = state.averaged[key].state_dict()
        assert all(torch.equal(snap[key][k], ema[k]) for k in ema)
    translators, _ = load_translators(domains / "run/models/checkpoints/iter_000004.pt")
    assert set(translators) == {"g_ab", "g_ba"}
    with pytest.raises(GanlabError, match="translates images"):
        load_generator(domains / "run/models/checkpoints/iter_000004.pt")


def train_straight_and_killed(domains) -> None:
    """The translation run of domains/params.yaml (24 iterations, a checkpoint every 3) through
    stages/train.py twice: straight to the end into straight/, and killed after iteration 6 and
    resumed into killed/."""
    data = ["--data", str(domains / "data/a/train"), "--data", str(domains / "data/b/train")]
    cmd = [sys.executable, str(REPO / "stages/train.py"), "--params", str(domains / "params.yaml"),
           "--model", "cyclegan", "--seed", "0", *data]  # fmt: skip

    def args(out):
        return cmd + ["--out", str(domains / out / "models"), "--live", str(domains / out / "live")]

    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run(args("straight"), check=True, env=env, capture_output=True)
    kill_when(args("killed"), appears=domains / "killed/models/checkpoints/iter_000006.pt", env=env)
    assert not (domains / "killed/models/checkpoints/iter_000024.pt").exists()
    resumed = subprocess.run(args("killed"), check=True, env=env, capture_output=True, text=True)
    assert 3 <= int(re.search(r"resuming from .* at iteration (\d+)", resumed.stdout)[1]) < 24


def test_killed_run_resumes_to_the_same_weights(domains):
    p = yaml.safe_load((domains / "params.yaml").read_text())
    # a pool of 10 is full (and swapping) when the kill comes: its contents must come back
    p["cyclegan"].update(iterations=24, ckpt_every=3, log_every=3, diffaug="color,translation", pool_size=10)
    (domains / "params.yaml").write_text(yaml.safe_dump(p))
    train_straight_and_killed(domains)
    assert load_checkpoint(domains / "killed/models/last.pt")["pool_a"]["count"] == 10
    straight, killed = (_final_weights(domains / f"{run}/models/last.pt") for run in ("straight", "killed"))
    assert set(straight) == {"g_ab", "g_ba", "d_a", "d_b", "pool_a", "pool_b"}
    _assert_same_weights(straight, killed)
    assert_same_history(domains / "straight/live", domains / "killed/live", steps=list(range(3, 25, 3)))
    # The preview: the first 8 training images of A, A→B, A→B→A, then B's, at 32 px ×4 with 2-px borders
    assert Image.open(domains / "killed/live/plots/images/samples/24.png").size == (8 * 34 * 4 + 8, 6 * 34 * 4 + 8)


def test_a_domain_smaller_than_a_batch_is_named(domains):
    with pytest.raises(GanlabError, match=r"cyclegan.batch_size=64: domain A \(folder:.*\) holds only 7"):
        _train(domains, batch_size=64)


def test_dataset_class_domains_and_their_errors(tmp_path):
    from tests.conftest import write_fashion_mnist

    write_fashion_mnist(tmp_path / "fm", n_train=40, n_test=20)
    p = tiny_params(**{"cyclegan.domain_a": "fashion_mnist:Sneaker", "cyclegan.domain_b": "fashion_mnist:Sandal",
                       "cyclegan.source": str(tmp_path / "fm"), "data.verify": False})  # fmt: skip
    params = parse_params(p)
    outs = {d: (tmp_path / f"{d}/train", tmp_path / f"{d}/test") for d in "ab"}
    prepare_domains(params.cyclegan, params.data, outs=outs, bad_out=tmp_path / "bad.txt")
    a = load_split(tmp_path / "a/train")
    assert a.keys is None and a.classes == [] and a.resolution == 32  # indices pair nothing across classes
    wrong = parse_params({**p, "cyclegan": {**p["cyclegan"], "domain_b": "fashion_mnist:Boot"}})
    with pytest.raises(GanlabError, match=r"cyclegan.domain_b: no class 'Boot'; expected one of \['T-shirt/top'"):
        prepare_domains(wrong.cyclegan, wrong.data, outs=outs, bad_out=tmp_path / "bad.txt")
    with pytest.raises(GanlabError, match="cyclegan.domain_a: expected a value matching"):
        parse_params({**p, "cyclegan": {**p["cyclegan"], "domain_a": "mnist:3"}})


@pytest.mark.parametrize("model", ["cyclegan", "cut"])  # CUT writes the same two translators
def test_translate_cli(domains, capsys, model):
    _train(domains, iterations=2, model=model)
    ckpt = str(domains / "run/models/checkpoints/iter_000002.pt")
    write_image_folder(domains / "inputs", {"": 3}, size=32)
    out = domains / "translated"
    translate_main(["--model", "cyclegan", "--direction", "b2a", "--input", str(domains / "inputs"),
                    "--out", str(out), "--checkpoint", ckpt])  # fmt: skip
    assert sorted(p.name for p in out.iterdir()) == ["000.png", "001.png", "002.png"]
    assert Image.open(out / "000.png").size == (32, 32) and Image.open(out / "000.png").mode == "RGB"
    # the direction is the translator used: b2a's output is G_BA's, a2b's is G_AB's
    from ganlab.sampling import translate
    from ganlab.training.checkpoints import load_translators

    nets, _ = load_translators(ckpt)
    inputs = torch.stack([torch.from_numpy(np.array(Image.open(p).convert("RGB"))).permute(2, 0, 1)
                          for p in sorted((domains / "inputs").glob("*.png"))])  # fmt: skip
    written = torch.from_numpy(np.array(Image.open(out / "000.png"))).permute(2, 0, 1)
    by = {key: translate(nets[key], inputs, batch_size=3, device=torch.device("cpu"))[0] for key in ("g_ab", "g_ba")}
    assert torch.equal(written, by["g_ba"]) and not torch.equal(written, by["g_ab"])

    def fails(*args, match):
        with pytest.raises(SystemExit) as e:
            translate_main(["--model", "cyclegan", "--direction", "a2b", "--out", str(out), *args])
        assert e.value.code == 2
        assert match in capsys.readouterr().err

    write_image_folder(domains / "big", {"": 1}, size=40)
    (domains / "empty").mkdir()
    fails("--input", str(domains / "big"), "--checkpoint", ckpt, match="40×40 pixels, but the model translates 32×32")
    fails("--input", str(domains / "empty"), "--checkpoint", ckpt, match="no images in the folder")
    save_test_snapshot(domains / "dcgan.pt", "dcgan", classes=[], iteration=1)
    fails("--input", str(domains / "inputs"), "--checkpoint", str(domains / "dcgan.pt"), match="generates from noise")
    with pytest.raises(SystemExit):
        translate_main(["--model", "dcgan", "--direction", "a2b", "--input", ".", "--out", str(out)])
    assert "--model dcgan: generates images from noise; translators: cyclegan" in capsys.readouterr().err
    translate_main(["--model", "cyclegan", "--direction", "a2b", "--input", str(domains / "big/000.png"),
                    "--out", str(out / "one"), "--checkpoint", ckpt, "--resize"])  # fmt: skip
    assert Image.open(out / "one/000.png").size == (32, 32)


def test_a_folder_domain_must_lie_inside_the_watched_source(tmp_path):
    """DVC watches cyclegan.source, so a folder domain outside it would change unnoticed."""
    write_domains(tmp_path / "img")
    for source, domain, error in [
        ("download", "folder:a", r"cyclegan.domain_a=folder:a: a folder domain lies inside cyclegan.source, which is"),
        (str(tmp_path / "img/b"), f"folder:{tmp_path / 'img/a'}", r"expected a folder inside cyclegan.source"),
        (str(tmp_path / "img"), "folder:../elsewhere", r"expected a folder inside cyclegan.source"),
    ]:
        keys = {"cyclegan.source": source, "cyclegan.domain_a": domain, "cyclegan.domain_b": domain}
        p = parse_params(tiny_params(**keys))
        with pytest.raises(GanlabError, match=error):
            prepare_domains(p.cyclegan, p.data, outs={"a": (tmp_path / "x", tmp_path / "y")}, bad_out=tmp_path / "z")
    # an absolute path inside the source is the same domain as its relative name
    inside = parse_params(tiny_params(**{"cyclegan.source": str(tmp_path / "img"),
                                         "cyclegan.domain_a": f"folder:{tmp_path / 'img/a'}",
                                         "cyclegan.domain_b": "folder:b"}))  # fmt: skip
    outs = {d: (tmp_path / d / "tr", tmp_path / d / "te") for d in "ab"}
    counts = prepare_domains(inside.cyclegan, inside.data, outs=outs, bad_out=tmp_path / "bad.txt")
    assert counts["a/train"] + counts["a/test"] == 10


def test_graph_is_refused_on_a_cpu_and_for_cut_before_anything_is_built(domains, monkeypatch):
    from ganlab.training import translation

    built = []
    monkeypatch.setattr(translation.TranslationTrainer, "build_state", lambda *a, **k: built.append(1))
    with pytest.raises(GanlabError, match=r"cyclegan.graph=true captures .* CUDA device; found cpu"):
        _trainer(domains, graph=True)
    with pytest.raises(ParamsError, match=r"graph: true is for model: cyclegan"):
        _trainer(domains, graph=True, model="cut")
    assert not built


def test_the_captured_iteration_waits_for_full_pools(domains, monkeypatch):
    """What a CUDA graph needs of the iteration, checked on the CPU: it is captured only after
    the warm-up calls and the iterations that fill the pools (whose filling is decided on the
    host), and a full pool is queried without leaving the device."""
    from ganlab.training import cyclegan, translation

    monkeypatch.setattr(translation, "check_graph_device", lambda *a: None)
    captured = {}
    monkeypatch.setattr(cyclegan, "CapturedStep", lambda fn, *, generator, warmup: captured.update(warmup=warmup) or fn)
    trainer = _trainer(domains, graph=True, pool_size=10)  # batch 4: 3 iterations fill a pool of 10
    assert captured["warmup"] == 3 + 3
    for _ in range(3):
        trainer.step()
    assert all(trainer.state.extras[k].full for k in ("pool_a", "pool_b"))
    syncs = []
    for reads_on_host in ("tolist", "item", "__bool__"):
        monkeypatch.setattr(torch.Tensor, reads_on_host, lambda self, name=reads_on_host: syncs.append(name))
    trainer.step()
    assert not syncs
