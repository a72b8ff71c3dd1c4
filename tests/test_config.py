import subprocess
import sys

import pytest
import yaml

from ganlab.config import DATASET_NAMES, LOSS_NAMES, ParamsError, load_params, parse_params
from ganlab.data.prepare import DATASETS
from ganlab.nn.losses import LOSSES
from tests.conftest import REPO, committed_params, tiny_params


def test_committed_params_load():
    params = load_params(REPO / "params.yaml")
    assert params.sagan.lr_d == 4e-4 and params.dcgan.lr_g == 2e-4
    assert params.sagan.conditional is True
    assert params.data.resolution == 32 and params.fid.reference == "test" and params.sagan.diffaug_policies == []


def test_diffaug_is_a_comma_list_as_dvc_exp_run_writes_it():
    p = committed_params()
    p["sagan"]["diffaug"] = "color, translation,cutout"  # -S sagan.diffaug=color,translation,cutout
    assert parse_params(p).sagan.diffaug_policies == ["color", "translation", "cutout"]


def _with(key: str, value):
    p = committed_params()
    section, _, name = key.rpartition(".")
    target = p[section] if section else p
    if value is _DELETE:
        del target[name]
    else:
        target[name] = value
    return p


_DELETE = object()


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("sagan.lr_d", 0.0, "sagan.lr_d: expected a value > 0.0, found 0.0"),
        ("dcgan.lr_g", -1e-4, "dcgan.lr_g: expected a value > 0.0"),
        ("sagan.batch_size", 0, "sagan.batch_size: expected a value >= 1, found 0"),
        (
            "data.dataset",
            "mnist",
            "data.dataset: expected one of 'cifar10', 'fashion_mnist', 'folder', 'emoji', found 'mnist'",
        ),
        ("sagan.loss", "ls", "sagan.loss: expected one of 'bce', 'hinge', 'wasserstein', 'lsgan', found 'ls'"),
        ("sagan.precision", "fp16", "sagan.precision: expected one of 'fp32', 'bf16', found 'fp16'"),
        ("dcgan.compile", "true", "dcgan.compile: expected bool, found 'true'"),
        ("sagan.lr_decay", "cosine", "sagan.lr_decay: expected one of 'none', 'linear', found 'cosine'"),
        ("dcgan.upsample", "bilinear", "dcgan.upsample: expected one of 'deconv', 'upconv', found 'bilinear'"),
        ("dcgan.spectral_norm", 0, "dcgan.spectral_norm: expected bool, found 0"),
        ("sagan.upsample", "upconv", "unknown key sagan.upsample"),
        ("report.seed", 0, "report.seed: expected a value >= 1, found 0"),
        ("seeds", [], "seeds: expected a non-empty list of distinct integers >= 0, found []"),
        ("seeds", [1, 1], "seeds: expected a non-empty list of distinct integers >= 0, found [1, 1]"),
        ("seeds", 3, "seeds: expected a list of int, found 3 (int)"),
        ("report.n_samples", 1, "report.n_samples: expected a value >= 2, found 1"),
        (
            "render.interpolate",
            [3, 3],
            "render.interpolate: expected two different class ids >= 0, or [], found [3, 3]",
        ),
        ("render.interpolate", [1, 2, 3], "render.interpolate: expected two different class ids >= 0"),
        ("render.interpolate", 3, "render.interpolate: expected a list of int, found 3"),
        ("render.interpolate", [1, "cat"], "render.interpolate[1]: expected int, found 'cat'"),
        ("dcgan.batch_size", "64", "dcgan.batch_size: expected int, found '64'"),
        ("dcgan.iterations", 10.5, "dcgan.iterations: expected int, found 10.5"),
        ("data.verify", "yes", "data.verify: expected bool, found 'yes'"),
        ("sagan.conditional", 1, "sagan.conditional: expected bool, found 1"),
        ("device", "gpu", "device: expected a value matching"),
        ("sagan.attention_res", 12, "sagan.attention_res: expected one of 0, 8, 16, 32, 64, found 12"),
        ("data.resolution", 48, "data.resolution: expected one of 32, 64, 128, found 48"),
        ("data.test_fraction", 1.0, "data.test_fraction: expected a value < 1.0, found 1.0"),
        ("data.on_bad", "ignore", "data.on_bad: expected one of 'error', 'skip', found 'ignore'"),
        ("data.emoji", {"vendors": ["google"]}, "data.emoji.label: missing key"),
        (
            "data.emoji",
            {"vendors": ["gogle"], "label": "category"},
            "data.emoji.vendors: expected distinct entries among 'google', 'twitter', 'apple', 'facebook', "
            "found ['gogle']",
        ),
        ("data.emoji", {"vendors": [], "label": "category"}, "data.emoji.vendors: expected a non-empty list of"),
        (
            "data.emoji",
            {"vendors": ["google"], "label": "style"},
            "data.emoji.label: expected one of 'category', 'vendor'",
        ),
        (
            "sagan.diffaug",
            "color,flip",
            "sagan.diffaug: expected distinct entries among 'color', 'translation', 'cutout'",
        ),
        ("dcgan.diffaug", "color,color", "dcgan.diffaug: expected distinct entries among"),
        ("fid.reference", "val", "fid.reference: expected one of 'test', 'train', found 'val'"),
        ("fid.reference_size", -1, "fid.reference_size: expected a value >= 0, found -1"),
        ("data.source", "~/photos", "data.source: DVC watches this path as a dependency and does not expand '~'"),
        ("cyclegan.source", " ", "cyclegan.source: expected download or a path, found an empty string"),
        ("sagan.beta1", 1.0, "sagan.beta1: expected a value < 1.0, found 1.0"),
        ("fid.n_samples", 1, "fid.n_samples: expected a value >= 2, found 1"),
        ("sagan.lr_D", 1e-4, "unknown key sagan.lr_D"),
        ("dcgan.attention_res", 16, "unknown key dcgan.attention_res"),
        ("extra", 1, "unknown key extra"),
        ("sagan.lr_d", _DELETE, "sagan.lr_d: missing key (expected float)"),
        ("fid", _DELETE, "fid: missing key"),
    ],
)
def test_bad_values_are_rejected_naming_the_key(key, value, message):
    with pytest.raises(ParamsError) as e:
        parse_params(_with(key, value))
    assert message in str(e.value)


def test_int_is_accepted_for_float_and_exponent_without_dot_parses(tmp_path):
    # `dvc exp run -S sagan.lr_d=4e-4` may write `4e-4`, which YAML 1.1 reads as a string.
    text = (
        (REPO / "params.yaml")
        .read_text()
        .replace("lr_d: 4.0e-4", "lr_d: 4e-4")
        .replace("gp_weight: 0.0", "gp_weight: 0", 1)
    )
    path = tmp_path / "params.yaml"
    path.write_text(text)
    params = load_params(path)
    assert params.sagan.lr_d == 4e-4 and isinstance(params.dcgan.gp_weight, float)


def test_stage_exits_nonzero_naming_the_key(tmp_path):
    params = _with("sagan.lr_d", -1.0)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    result = subprocess.run(
        [sys.executable, str(REPO / "stages/prepare.py"), "--params", str(path),
         "--train", str(tmp_path / "train"), "--test", str(tmp_path / "test"),
         "--bad-files", str(tmp_path / "bad.txt")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 2
    assert "sagan.lr_d: expected a value > 0.0, found -1.0" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "train").exists()


def test_name_lists_match_the_registries():
    assert tuple(DATASETS) == DATASET_NAMES and tuple(LOSSES) == LOSS_NAMES


def test_a_linear_decay_must_start_before_the_last_iteration():
    raw = tiny_params(**{"sagan.lr_decay": "linear", "sagan.iterations": 100, "sagan.lr_decay_start": 100})
    with pytest.raises(ParamsError, match=r"sagan\.lr_decay_start: expected a value < iterations \(100\)"):
        parse_params(raw)
    # Without a decay the start is never used, so it is not checked against the length.
    parse_params(tiny_params(**{"sagan.iterations": 100, "sagan.lr_decay_start": 100}))
