"""data.dataset=folder: ImageFolder layouts, decoding rules, the test split, bad files."""

import numpy as np
import pytest
from PIL import Image

from ganlab.data.base import DataError, resize_square
from ganlab.data.prepared import load_split
from tests.conftest import write_image_folder
from tests.test_data import data_config, prepare_to


def _folder_cfg(root, **overrides):
    return data_config(dataset="folder", source=str(root), verify=False, **overrides)


def test_class_subfolders_become_sorted_classes_with_a_stratified_split(tmp_path, capsys):
    write_image_folder(tmp_path / "src", {"zebra": 10, "apple": 20, "mango": 3})
    counts = prepare_to(tmp_path / "out", _folder_cfg(tmp_path / "src", test_fraction=0.2))
    assert list(counts["train"]) == ["apple", "mango", "zebra"]
    assert counts["test"] == {"apple": 4, "mango": 1, "zebra": 2}  # round(0.2·n), at least one
    assert counts["train"] == {"apple": 16, "mango": 2, "zebra": 8}
    train = load_split(tmp_path / "out/train")
    assert train.classes == ["apple", "mango", "zebra"] and train.images.shape == (26, 3, 32, 32)
    # Same folder, same bytes; and the held-out files are never in the training set.
    prepare_to(tmp_path / "again", _folder_cfg(tmp_path / "src", test_fraction=0.2))
    for split in ("train", "test"):
        for name in ("images.npy", "labels.npy", "meta.json"):
            assert (tmp_path / "out" / split / name).read_bytes() == (tmp_path / "again" / split / name).read_bytes()
    test = load_split(tmp_path / "out/test")
    pairs = {img.numpy().tobytes() for img in train.images}
    assert not any(img.numpy().tobytes() in pairs for img in test.images)


def test_flat_folder_is_one_unlabelled_set_and_train_test_folders_are_used(tmp_path):
    write_image_folder(tmp_path / "flat", {"": 12})
    counts = prepare_to(tmp_path / "out", _folder_cfg(tmp_path / "flat"))
    assert counts == {"train": {"(unlabelled)": 11}, "test": {"(unlabelled)": 1}}
    assert load_split(tmp_path / "out/train").classes == []
    write_image_folder(tmp_path / "given/train", {"a": 5, "b": 4})
    write_image_folder(tmp_path / "given/test", {"a": 2, "b": 3})
    counts = prepare_to(tmp_path / "out2", _folder_cfg(tmp_path / "given"))
    assert counts == {"train": {"a": 5, "b": 4}, "test": {"a": 2, "b": 3}}


def test_decoding_rules_rgba_on_white_grey_to_rgb_centre_crop():
    rgba = Image.new("RGBA", (40, 20), (255, 0, 0, 0))  # fully transparent red, 2:1
    rgba.paste((0, 0, 255, 255), (10, 0, 30, 20))  # an opaque blue square in the middle
    out = resize_square(rgba, 20)
    assert out.shape == (3, 20, 20)
    assert (out[:, :, :] == np.array([0, 0, 255])[:, None, None]).all()  # the crop kept only the blue centre
    corner = resize_square(Image.new("RGBA", (8, 8), (255, 0, 0, 0)), 8)
    assert (corner == 255).all()  # transparent pixels are white, whatever colour they hold
    grey = resize_square(Image.new("L", (8, 8), 77), 8)
    assert (grey == 77).all() and grey.shape == (3, 8, 8)


def test_every_format_decodes_and_hidden_or_other_files_are_ignored(tmp_path):
    src = tmp_path / "src"
    write_image_folder(src, {"a": 3, "b": 3})
    for i, ext in enumerate(("jpg", "jpeg", "webp", "bmp", "PNG")):
        Image.new("RGB", (48, 48), (i * 40, 10, 10)).save(src / "a" / f"extra_{i}.{ext}")
    (src / "a" / ".hidden.png").write_bytes(b"not an image")
    (src / "a" / "notes.txt").write_text("ignored")
    (src / ".git").mkdir()
    counts = prepare_to(tmp_path / "out", _folder_cfg(src, resolution=64))
    assert counts["train"]["a"] + counts["test"]["a"] == 8
    assert load_split(tmp_path / "out/train").images.shape[1:] == (3, 64, 64)


def test_a_corrupt_file_is_named_and_nothing_is_written(tmp_path):
    write_image_folder(tmp_path / "src", {"a": 6, "b": 6})
    bad = tmp_path / "src/b/003.png"
    bad.write_bytes(bad.read_bytes()[:60])  # truncated
    out = tmp_path / "out"
    prepare_to(out, _folder_cfg(tmp_path / "src", on_bad="skip"))  # earlier outputs exist
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    (tmp_path / "src/a/000.png").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"src/a/000.png: unreadable image .*data.on_bad=skip"):
        prepare_to(out, _folder_cfg(tmp_path / "src"))
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before  # nothing replaced
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp folders left


def test_on_bad_skip_lists_the_skipped_files(tmp_path):
    write_image_folder(tmp_path / "src", {"a": 6, "b": 6})
    for name in ("a/001.png", "b/004.png"):
        (tmp_path / "src" / name).write_bytes(b"garbage")
    counts = prepare_to(tmp_path / "out", _folder_cfg(tmp_path / "src", on_bad="skip"))
    assert sum(counts["train"].values()) + sum(counts["test"].values()) == 10
    listed = (tmp_path / "out/bad_files.txt").read_text().splitlines()
    assert sorted(listed) == sorted(str(tmp_path / "src" / n) for n in ("a/001.png", "b/004.png"))
    train = load_split(tmp_path / "out/train")
    assert len(train.images) == len(train.labels) == sum(counts["train"].values())


@pytest.mark.parametrize(
    "layout, message",
    [
        ({}, r"src: no images found"),
        ({"a": 3, "b": 0}, r"src/b: class folder holds no images"),
        ({"a": 3, "": 2}, r"src: holds both image files .* and subfolders"),
    ],
)
def test_empty_or_mixed_folders_are_clear_errors(tmp_path, layout, message):
    (tmp_path / "src").mkdir()
    write_image_folder(tmp_path / "src", layout)
    with pytest.raises(DataError, match=message):
        prepare_to(tmp_path / "out", _folder_cfg(tmp_path / "src"))


def test_missing_folder_and_mismatched_train_test_classes(tmp_path):
    with pytest.raises(DataError, match=r"'nowhere' is not a folder"):
        prepare_to(tmp_path / "out", _folder_cfg("nowhere"))
    write_image_folder(tmp_path / "src/train", {"a": 2, "b": 2})
    write_image_folder(tmp_path / "src/test", {"a": 2})
    with pytest.raises(DataError, match=r"train/ and test/ must hold the same class folders"):
        prepare_to(tmp_path / "out", _folder_cfg(tmp_path / "src"))
