import pytest
from PIL import Image

from ganlab.config import parse_params, to_dict
from ganlab.errors import GanlabError
from ganlab.models import build_generator
from ganlab.sample import main, sample
from ganlab.training.checkpoints import save_snapshot
from tests.conftest import CIFAR_CLASSES, tiny_params


@pytest.fixture
def best_dir(tmp_path):
    params = parse_params(tiny_params())
    for name in ("dcgan", "sagan"):
        G = build_generator(name, params.model(name), num_classes=10)
        config = {"model": name, "seed": 0, "data_md5": "x", "params": to_dict(params.model(name))}
        save_snapshot(tmp_path / "best" / f"{name}.pt", generator=G, config=config, iteration=2, classes=CIFAR_CLASSES)
    return tmp_path / "best"


def test_sample_writes_a_grid(best_dir, tmp_path):
    out = sample(model="sagan", n=64, out=tmp_path / "grid.png", class_id=3, seed=0, best_dir=best_dir)
    image = Image.open(out)
    assert image.format == "PNG" and image.size == ((8 * 34 + 2) * 4,) * 2  # 8×8, 2-px padding, ×4
    again = sample(model="sagan", n=64, out=tmp_path / "again.png", class_id=3, seed=0, best_dir=best_dir)
    assert Image.open(again).tobytes() == image.tobytes()  # fixed seed, same grid


def test_sample_errors(best_dir, tmp_path, capsys):
    with pytest.raises(GanlabError, match=r"nope.pt: no best nope generator"):
        sample(model="nope", n=4, out=tmp_path / "x.png", class_id=None, seed=0, best_dir=best_dir)
    with pytest.raises(GanlabError, match=r"--class-id 10: expected 0..9 \(0=airplane"):
        sample(model="sagan", n=4, out=tmp_path / "x.png", class_id=10, seed=0, best_dir=best_dir)
    with pytest.raises(GanlabError, match=r"--class-id 1: dcgan is unconditional"):
        sample(model="dcgan", n=4, out=tmp_path / "x.png", class_id=1, seed=0, best_dir=best_dir)
    with pytest.raises(SystemExit) as e:
        main(["--model", "sagan", "--out", str(tmp_path / "x.png"), "--best-dir", str(tmp_path / "none")])
    assert e.value.code == 2 and "run `dvc repro` first" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
