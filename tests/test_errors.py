"""Error messages that name the file or key, what was expected and what was found: one test each."""

import numpy as np
import pytest
import torch

from ganlab.config import load_params
from ganlab.errors import GanlabError
from ganlab.io import load_checkpoint
from ganlab.metrics.evaluate import _check_fits
from ganlab.metrics.fid import FidError, load_statistics
from ganlab.metrics.select import read_fid_csv, select_best
from ganlab.training.checkpoints import load_generator
from tests.conftest import CIFAR_CLASSES, save_test_snapshot


@pytest.fixture
def snapshot(tmp_path):
    path = tmp_path / "iter_000002.pt"
    save_test_snapshot(path, "sagan", classes=CIFAR_CLASSES, iteration=2)
    return path


def test_a_checkpoint_that_is_not_a_generator(snapshot, tmp_path):
    ckpt = torch.load(snapshot, weights_only=False)
    torch.save({**ckpt, "config": {**ckpt["config"], "model": "cyclegan"}}, tmp_path / "translator.pt")
    with pytest.raises(GanlabError, match=r"translator.pt: a cyclegan checkpoint translates images; it does not"):
        load_generator(tmp_path / "translator.pt")
    torch.save({k: v for k, v in ckpt.items() if k != "num_classes"}, tmp_path / "partial.pt")
    with pytest.raises(GanlabError, match=r"partial.pt: not a ganlab generator checkpoint \(missing 'num_classes'\)"):
        load_generator(tmp_path / "partial.pt")
    torch.save({**ckpt, "config": {**ckpt["config"], "model": "stylegan"}}, tmp_path / "other.pt")
    expected = r"other.pt: unknown model 'stylegan' \(expected one of \['dcgan', 'sagan'\]\)"
    with pytest.raises(GanlabError, match=expected):
        load_generator(tmp_path / "other.pt")
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(GanlabError, match=r"list.pt: expected a checkpoint dict, found list"):
        load_checkpoint(tmp_path / "list.pt")
    with pytest.raises(GanlabError, match=r"missing.pt: checkpoint not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_weights_that_do_not_fit_their_config(snapshot, tmp_path):
    ckpt = torch.load(snapshot, weights_only=False)
    params = {**ckpt["config"]["params"], "g_ch": ckpt["config"]["params"]["g_ch"] * 2}
    torch.save({**ckpt, "config": {**ckpt["config"], "params": params}}, tmp_path / "wider.pt")
    with pytest.raises(GanlabError, match=r"wider.pt: weights do not fit a sagan generator built from its config"):
        load_generator(tmp_path / "wider.pt")


def test_a_checkpoint_of_another_image_shape_or_class_count(snapshot):
    _, meta = load_generator(snapshot)
    ref = {"image_shape": np.array([3, 64, 64]), "num_classes": np.array(10)}
    expected = r"iter_000002.pt: generates images of shape \[3, 32, 32\], the reference set has"
    with pytest.raises(FidError, match=expected):
        _check_fits(snapshot, meta, ref)
    with pytest.raises(FidError, match=r"conditioned on 10 classes, the reference set has 5"):
        _check_fits(snapshot, meta, {"image_shape": np.array([3, 32, 32]), "num_classes": np.array(5)})


def test_non_finite_weights_stop_training(prepared, tmp_path, monkeypatch):
    import ganlab.training.state as state_module
    from tests.test_training import _train

    real_update, calls = state_module.update_averages, []

    def poison(state):  # at iteration 2, a checkpoint's, the weights go NaN after a finite loss
        real_update(state)
        calls.append(1)
        if len(calls) == 2:
            with torch.no_grad():
                next(state.nets["generator"].parameters()).fill_(float("nan"))

    monkeypatch.setattr(state_module, "update_averages", poison)
    with pytest.raises(GanlabError, match=r"sagan: non-finite weights at iteration 2; training stopped"):
        _train(tmp_path, iterations=4)


def test_fid_tables_that_are_missing_empty_or_mix_n(tmp_path):
    with pytest.raises(GanlabError, match=r"nope.csv: FID table not found; run the fid stage first"):
        read_fid_csv(tmp_path / "nope.csv")
    (tmp_path / "empty.csv").write_text("iteration,fid,n_samples,seconds\n")
    with pytest.raises(GanlabError, match=r"empty.csv: no FID rows"):
        read_fid_csv(tmp_path / "empty.csv")
    for model, n in (("dcgan", 20), ("sagan", 30)):
        save_test_snapshot(tmp_path / model / "iter_000001.pt", model, classes=CIFAR_CLASSES, iteration=1)
        (tmp_path / f"{model}.csv").write_text(f"iteration,fid,n_samples,seconds\n1,50.0,{n},1\n")
    np.savez(tmp_path / "stats.npz", mu=np.zeros(4), sigma=np.eye(4), size=np.array(40), split=np.array("test"))
    inputs = {m: (tmp_path / f"{m}.csv", tmp_path / m) for m in ("dcgan", "sagan")}
    with pytest.raises(GanlabError, match=r"FID tables mix n_samples \[20, 30\]; re-run the fid stages"):
        select_best(inputs, reference_stats=tmp_path / "stats.npz", seed=0, metrics_out=tmp_path / "best.json",
                    best_dir=tmp_path / "best")  # fmt: skip


def test_statistics_that_are_unreadable_or_lack_mu_and_sigma(tmp_path):
    (tmp_path / "garbage.npz").write_bytes(b"not a zip")
    with pytest.raises(FidError, match=r"garbage.npz: unreadable FID statistics"):
        load_statistics(tmp_path / "garbage.npz")
    np.savez(tmp_path / "nomu.npz", m=np.zeros(3))
    with pytest.raises(FidError, match=r"nomu.npz: expected arrays 'mu' and 'sigma', found \['m'\]"):
        load_statistics(tmp_path / "nomu.npz")


def test_a_missing_or_invalid_params_file(tmp_path):
    from ganlab.config import ParamsError

    with pytest.raises(ParamsError, match=r"nope.yaml: params file not found \(run from the repository root\)"):
        load_params(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("seed: [1\n")
    with pytest.raises(ParamsError, match=r"bad.yaml: not valid YAML"):
        load_params(tmp_path / "bad.yaml")
