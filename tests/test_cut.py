"""CUT: PatchNCE and its MLP head, its step in the shared loop, its variants (FastCUT), exact
resume, and the errors of its keys. Its snapshots are the CycleGAN's (two translators), so the
scoring, report and translate paths are the ones tests/test_cyclegan.py and the pipeline tests run."""


import pytest
import torch
import yaml
from PIL import Image

from ganlab.config import ParamsError, parse_params
from ganlab.data.prepared import load_split
from ganlab.errors import GanlabError
from ganlab.io import load_checkpoint
from ganlab.models.cyclegan import PatchProjector, ResnetTranslator
from ganlab.nn.losses import patch_nce
from ganlab.training.checkpoints import load_translators
from ganlab.training.cut import CUT
from ganlab.training.live import logged_losses, read_history
from ganlab.training.loop import build_trainer, train
from tests.conftest import assert_same_history, tiny_params
from tests.test_cyclegan import train_straight_and_killed
from tests.test_training import _assert_same_weights, _final_weights

HEADS = ("head_ab", "head_ba")


def _params(domains, **overrides):
    p = yaml.safe_load((domains / "params.yaml").read_text())
    p["cyclegan"].update(model="cut", **overrides)
    return p


def _cut(domains, **overrides) -> CUT:
    splits = [load_split(domains / f"data/{d}/train") for d in "ab"]
    cfg = parse_params(_params(domains, **overrides)).cyclegan
    return build_trainer("cyclegan", cfg, seed=0, device=torch.device("cpu"), splits=splits)


def test_patch_nce_is_lowest_when_each_patch_finds_itself():
    g = torch.Generator().manual_seed(0)
    keys = torch.nn.functional.normalize(torch.randn(2 * 16, 8, generator=g), dim=1)  # 2 images, 16 patches
    same = patch_nce(keys.clone(), keys, images=2, temperature=0.07)
    shuffled = patch_nce(keys[torch.randperm(32, generator=g)], keys, images=2, temperature=0.07)
    noise = patch_nce(torch.nn.functional.normalize(torch.randn(32, 8, generator=g), dim=1), keys, images=2,
                      temperature=0.07)  # fmt: skip
    assert same < 0.1 < shuffled and same < noise
    # a query that cannot tell the locations apart scores log P, the chance level
    flat = torch.nn.functional.normalize(torch.ones(32, 8), dim=1)
    assert torch.isclose(patch_nce(flat, keys * 0 + flat, images=2, temperature=0.07), torch.log(torch.tensor(16.0)))
    # the keys are targets, not trained: no gradient flows into them
    k, q = keys.clone().requires_grad_(True), keys.clone().requires_grad_(True)
    patch_nce(q, k, images=2, temperature=0.07).backward()
    assert k.grad is None and q.grad is not None


def test_patch_nce_through_a_translator_is_lowest_for_the_identity_mapping():
    """Toy input: a fresh translator's features and head; the translation that is the source
    itself beats a mirrored, a shifted and a blank one."""
    torch.manual_seed(0)
    net = ResnetTranslator(ch=8, n_res_blocks=2, resolution=32)
    layers = [0, 4, 7, 10]
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    channels = [f.shape[1] for f in net.features(x, layers)]
    head = PatchProjector(channels=channels)

    def nce(translation):
        keys, queries = net.features(x, layers), net.features(translation, layers)
        where = [torch.randperm(f.shape[2] * f.shape[3], generator=torch.Generator().manual_seed(1))[:64] for f in keys]
        k, q = head(keys, where), head(queries, where)
        return torch.stack([patch_nce(qi, ki, images=2, temperature=0.07) for qi, ki in zip(q, k)]).mean()

    identity = nce(x)
    for other in (x.flip(3), x.roll(5, dims=3), torch.zeros_like(x)):
        assert identity < nce(other)


def test_translator_features_and_their_errors():
    net = ResnetTranslator(ch=4, n_res_blocks=3, resolution=32)
    x = torch.rand(2, 3, 32, 32)
    feats = net.features(x, [0, 4, 7, 10, 12])
    assert [tuple(f.shape[1:]) for f in feats] == [(3, 38, 38), (8, 16, 16), (16, 8, 8), (16, 8, 8), (16, 8, 8)]
    assert torch.equal(feats[0][:, :, 3:-3, 3:-3], x)  # layer 0: the padded image
    with pytest.raises(GanlabError, match=r"cyclegan.nce_layers: expected indices below 13 .* 3 residual blocks"):
        net.features(x, [0, 13])


def test_the_model_key_picks_the_family_and_cut_keys_are_checked(domains):
    assert type(_cut(domains)).__name__ == "CUT"
    p = _params(domains)
    for key, value, match in (
        ("model", "pix2pix", r"cyclegan.model: expected one of 'cyclegan', 'cut'"),
        ("nce_layers", [4, 0], r"nce_layers: expected increasing layer indices >= 0, found \[4, 0\]"),
        ("nce_temperature", 0.0, r"cyclegan.nce_temperature: expected a value > 0.0, found 0.0"),
    ):
        bad = yaml.safe_load(yaml.safe_dump(p))
        bad["cyclegan"][key] = value
        with pytest.raises(ParamsError, match=match):
            parse_params(bad)
    with pytest.raises(GanlabError, match=r"nce_layers: expected indices below 11 .* 1 residual blocks"):
        _cut(domains, nce_layers=[0, 4, 12])


def test_one_step_trains_both_directions_and_loss_g_is_the_whole_objective(domains):
    trainer = _cut(domains)
    assert set(trainer.state.nets) == {"g_ab", "g_ba", "d_a", "d_b", *HEADS}
    assert trainer.state.extras == {}  # no image pool in CUT
    before = {k: [p.detach().clone() for p in net.parameters()] for k, net in trainer.state.nets.items()}
    s = dict(zip(trainer.stats, trainer.step()))
    for key, net in trainer.state.nets.items():
        assert any(not torch.equal(a, b) for a, b in zip(before[key], net.parameters())), key
    assert all(torch.isfinite(v) for v in s.values())
    # two directions, each NCE at most log(P) per layer when nothing is learned yet; > 0 always
    assert 0 < s["loss_nce"] and 0 < s["loss_nce_identity"]
    cfg = trainer.cfg
    nce = (s["loss_nce"] + s["loss_nce_identity"]) / 2
    assert torch.isclose(s["loss_g"], s["loss_adversarial"] + cfg.lambda_nce * nce)


def test_fastcut_has_no_identity_term_and_flips_with_the_training_rng(domains):
    fast = {"nce_identity": False, "lambda_nce": 10.0, "flip_equivariance": True}
    trainer = _cut(domains, **fast)
    s = dict(zip(trainer.stats, trainer.step()))
    assert s["loss_nce_identity"] == 0
    assert torch.isclose(s["loss_g"], s["loss_adversarial"] + 10.0 * s["loss_nce"])
    # the flip is one more draw of the training RNG: the same seed gives the same step, and
    # without the flip the RNG lands elsewhere
    again = _cut(domains, **fast)
    assert torch.equal(again.step(), torch.stack(list(s.values())))
    plain = _cut(domains, nce_identity=False, lambda_nce=10.0)
    plain.step()
    assert not torch.equal(plain.state.rng.get_state(), trainer.state.rng.get_state())


def test_bf16_step_is_finite(domains):
    assert torch.isfinite(_cut(domains, precision="bf16").step()).all()


def test_snapshots_hold_the_translators_only_and_score_as_cyclegan_ones(domains):
    state = _train(domains, iterations=2, ema=0.9)
    path = domains / "run/models/checkpoints/iter_000002.pt"
    snap = load_checkpoint(path)
    assert not any(k.startswith("head") for k in snap) and snap["config"]["params"]["model"] == "cut"
    translators, _ = load_translators(path)
    ema = state.averaged["g_ab"].state_dict()
    assert all(torch.equal(translators["g_ab"].state_dict()[k], ema[k]) for k in ema)
    last = load_checkpoint(domains / "run/models/last.pt")
    assert set(HEADS) <= set(last)
    # G's Adam holds the heads' moments too: every parameter of G_AB, G_BA and both heads
    n_params = sum(1 for k in ("g_ab", "g_ba", *HEADS) for _ in state.nets[k].parameters())
    assert len(last["opt_g"]["state"]) == n_params
    steps, _ = read_history(domains / "run/live", "loss_nce")
    assert steps == [1, 2]
    # what the loss figure draws: CUT's terms, none of the CycleGAN's
    assert logged_losses(domains / "run/live") == CUT.stats[:5]  # loss_d, loss_g, adversarial, nce, nce_identity


def _train(domains, out="run", **overrides):
    params = parse_params(_params(domains, **overrides))
    data = [domains / "data/a/train", domains / "data/b/train"]
    return train("cyclegan", params.cyclegan, seed=0, device="cpu", data_paths=data, out_dir=domains / out / "models",
                 live_dir=domains / out / "live", progress=False)  # fmt: skip


def test_killed_run_resumes_to_the_same_weights(domains):
    p = _params(domains, iterations=24, ckpt_every=3, log_every=3, ema=0.5, flip_equivariance=True)
    (domains / "params.yaml").write_text(yaml.safe_dump(p))
    train_straight_and_killed(domains)
    straight, killed = (_final_weights(domains / f"{run}/models/last.pt") for run in ("straight", "killed"))
    assert {"g_ab", "g_ba", "d_a", "d_b", *HEADS} <= set(straight)
    _assert_same_weights(straight, killed)  # the heads and their Adam moments included
    assert_same_history(domains / "straight/live", domains / "killed/live", steps=list(range(3, 25, 3)))
    assert Image.open(domains / "killed/live/plots/images/samples/24.png").size == (8 * 34 * 4 + 8, 6 * 34 * 4 + 8)


def test_a_cut_run_is_not_resumed_as_a_cyclegan_one(domains, capsys):
    _train(domains, out="run", iterations=2)
    params = parse_params(yaml.safe_load((domains / "params.yaml").read_text()))  # model: cyclegan
    data = [domains / "data/a/train", domains / "data/b/train"]
    state = train("cyclegan", params.cyclegan, seed=0, device="cpu", data_paths=data, out_dir=domains / "run/models",
                  live_dir=None, progress=False)  # fmt: skip
    assert "config changed (cyclegan.model: 'cut' -> 'cyclegan'): starting fresh" in capsys.readouterr().out
    assert not any(k.startswith("head") for k in state.nets)
    (aside,) = (domains / "run").glob("models.set-aside/*")  # the CUT run is kept, not overwritten
    assert load_checkpoint(aside / "last.pt")["config"]["params"]["model"] == "cut"


def test_tiny_params_fit_the_tiny_translator():
    p = tiny_params(**{"cyclegan.model": "cut"})
    assert max(p["cyclegan"]["nce_layers"]) < 10 + p["cyclegan"]["n_res_blocks"]
