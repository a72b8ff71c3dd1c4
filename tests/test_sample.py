import pytest
import torch
from PIL import Image

from ganlab.errors import GanlabError
from ganlab.sample import interpolate, main, sample
from tests.conftest import CIFAR_CLASSES, save_test_snapshot


@pytest.fixture
def best_dir(tmp_path):
    for name in ("dcgan", "sagan"):
        save_test_snapshot(tmp_path / "best" / f"{name}.pt", name, classes=CIFAR_CLASSES, iteration=2)
    return tmp_path / "best"


def test_sample_writes_a_grid(best_dir, tmp_path):
    out = sample(model="sagan", n=64, out=tmp_path / "grid.png", class_id=3, seed=0, best_dir=best_dir)
    image = Image.open(out)
    assert image.format == "PNG" and image.size == ((8 * 34 + 2) * 4,) * 2  # 8×8, 2-px padding, ×4
    again = sample(model="sagan", n=64, out=tmp_path / "again.png", class_id=3, seed=0, best_dir=best_dir)
    assert Image.open(again).tobytes() == image.tobytes()  # fixed seed, same grid


def test_class_id_draws_that_class_only(best_dir, tmp_path, monkeypatch):
    """The labels the generator is given are observed: all 3 with --class-id 3, every class without."""
    import ganlab.sample as sample_module

    seen, real_load = [], sample_module.load_generator

    def recording_load(*args, **kwargs):
        generator, meta = real_load(*args, **kwargs)
        generator.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[1].clone()))
        return generator, meta

    monkeypatch.setattr(sample_module, "load_generator", recording_load)
    sample(model="sagan", n=64, out=tmp_path / "cats.png", class_id=3, seed=0, best_dir=best_dir)
    labels = torch.cat(seen)
    assert len(labels) == 64 and set(labels.tolist()) == {3}
    seen.clear()
    sample(model="sagan", n=64, out=tmp_path / "all.png", class_id=None, seed=0, best_dir=best_dir)
    assert set(torch.cat(seen).tolist()) == set(range(10))


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


def test_interpolation_endpoints_are_the_two_classes(best_dir):
    from ganlab.sampling import to_uint8
    from ganlab.training.checkpoints import load_generator
    from ganlab.viz.interpolation import interpolate_classes

    G, _ = load_generator(best_dir / "sagan.pt")
    images = interpolate_classes(G, a=3, b=5, steps=5, rows=2, seed=7).view(2, 5, 3, 32, 32)
    z = torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(7))
    with torch.inference_mode():
        class_a, class_b = (to_uint8(G(z, torch.full((2,), c))) for c in (3, 5))
    assert torch.equal(images[:, 0], class_a) and torch.equal(images[:, -1], class_b)
    assert not torch.equal(images[:, 2], class_a)  # the middle is neither end


def test_interpolate_command_and_its_errors(best_dir, tmp_path, capsys):
    out = tmp_path / "interp.png"
    main(["--model", "sagan", "--interpolate", "cat", "9", "--steps", "6", "--rows", "3",
          "--out", str(out), "--best-dir", str(best_dir)])  # fmt: skip
    assert Image.open(out).format == "PNG" and "wrote" in capsys.readouterr().out
    kwargs = dict(model="sagan", steps=8, rows=2, out=tmp_path / "x.png", seed=0, best_dir=best_dir)
    with pytest.raises(
        GanlabError, match=r"--interpolate A: unknown class 'kitten'; expected an id or a name among 0=airplane"
    ):
        interpolate(a="kitten", b="dog", **kwargs)
    with pytest.raises(GanlabError, match=r"--interpolate B: unknown class '10'"):
        interpolate(a="cat", b="10", **kwargs)
    with pytest.raises(GanlabError, match=r"two different classes, found 3 twice"):
        interpolate(a="cat", b="3", **kwargs)
    with pytest.raises(GanlabError, match=r"--steps 1: expected at least 2"):
        interpolate(a="cat", b="dog", **{**kwargs, "steps": 1})
    with pytest.raises(GanlabError, match=r"--interpolate: dcgan is unconditional"):
        interpolate(a="cat", b="dog", **{**kwargs, "model": "dcgan"})
    assert not (tmp_path / "x.png").exists()
