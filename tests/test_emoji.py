"""data.dataset=emoji on hand-built tarballs in the npm packages' real layout."""

import io
import json
import tarfile

import numpy as np
import pytest
from PIL import Image

from ganlab.data.base import DataError, resize_square
from ganlab.data.emoji import EMOJI_INTEGRITY, integrity
from ganlab.data.prepared import load_split
from tests.test_data import data_config, prepare_to

CATEGORIES = ["Smileys & Emotion", "Animals & Nature", "Flags"]


def _emoji_json(n_per_category: int) -> list[dict]:
    """emoji.json entries: n per category, the first of each with two skin tones, one twitter
    lacks, and a Component entry that must be left out."""
    entries = []
    for c, category in enumerate(CATEGORIES):
        for i in range(n_per_category):
            code = f"1F{c}{i:02X}"
            entry = {"unified": code, "image": f"{code.lower()}.png", "category": category,
                     "has_img_google": True, "has_img_twitter": i != 1}  # fmt: skip
            if i == 0:
                entry["skin_variations"] = {
                    tone: {
                        "unified": f"{code}-{tone}",
                        "image": f"{code.lower()}-{tone.lower()}.png",
                        "has_img_google": True,
                        "has_img_twitter": True,
                    }  # fmt: skip
                    for tone in ("1F3FB", "1F3FF")
                }
            entries.append(entry)
    entries.append({"unified": "1F3FB", "image": "1f3fb.png", "category": "Component",
                    "has_img_google": True, "has_img_twitter": True})  # fmt: skip
    return entries


def _png(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(64, 64, 4), dtype=np.uint8)
    pixels[:8, :, 3] = 0  # a transparent band, as emojis have
    buf = io.BytesIO()
    Image.fromarray(pixels, "RGBA").save(buf, format="PNG")
    return buf.getvalue()


def write_emoji_tarball(path, vendor: str, entries: list[dict]) -> dict[str, bytes]:
    """`npm pack`'s layout: package/emoji.json and package/img/<vendor>/64/*.png (plus other
    sizes and files that must be ignored). Returns the PNG bytes by image name."""
    pngs = {}
    with tarfile.open(path, "w:gz") as tar:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        add("package.json", json.dumps({"name": f"emoji-datasource-{vendor}"}).encode())
        add("emoji.json", json.dumps(entries).encode())
        for entry in entries:
            for v in [entry, *(entry.get("skin_variations") or {}).values()]:
                if v.get(f"has_img_{vendor}"):
                    pngs[v["image"]] = _png(len(pngs) + (1000 if vendor == "twitter" else 0))
                    add(f"img/{vendor}/64/{v['image']}", pngs[v["image"]])
                    add(f"img/{vendor}/32/{v['image']}", b"small")
    return pngs


def _cfg(source, **overrides):
    emoji = {"vendors": overrides.pop("vendors", ["google"]), "label": overrides.pop("label", "category")}
    settings = {"verify": False, "resolution": 64, **overrides}
    return data_config(dataset="emoji", source=str(source), emoji=emoji, **settings)


def test_a_hand_built_tarball_prepares_exactly(tmp_path):
    entries = _emoji_json(10)
    pngs = write_emoji_tarball(tmp_path / "emoji-datasource-google-16.0.0.tgz", "google", entries)
    counts = prepare_to(tmp_path / "out", _cfg(tmp_path / "emoji-datasource-google-16.0.0.tgz", test_fraction=0.2))
    # 10 per category + 2 skin tones; Component left out; 2 of 10 code points held out per category.
    assert sorted(counts["train"]) == sorted(CATEGORIES)
    assert {c: counts["train"][c] + counts["test"][c] for c in CATEGORIES} == {c: 12 for c in CATEGORIES}
    train, test = load_split(tmp_path / "out/train"), load_split(tmp_path / "out/test")
    assert train.classes == sorted(CATEGORIES) and train.resolution == 64
    expected = {name: resize_square(Image.open(io.BytesIO(data)), 64).tobytes() for name, data in pngs.items()}
    assert "1f3fb.png" in pngs and expected.pop("1f3fb.png")  # the Component image is not prepared
    got = [img.numpy().tobytes() for split in (train, test) for img in split.images]
    assert sorted(got) == sorted(expected.values())  # every image, decoded exactly as PIL does
    # Every prepared image has its category's label.
    category_of = {}
    for e in entries:
        for v in [e, *(e.get("skin_variations") or {}).values()]:
            category_of[expected.get(v["image"])] = e["category"]
    for split in (train, test):
        for img, label in zip(split.images, split.labels):
            assert split.classes[label] == category_of[img.numpy().tobytes()]
    # An emoji's skin tones are held out with it: the test set never shares a code point with training.
    test_bytes = {img.numpy().tobytes() for img in test.images}
    for e in entries[:-1]:
        sides = {expected[v["image"]] in test_bytes for v in [e, *(e.get("skin_variations") or {}).values()]}
        assert len(sides) == 1, e["unified"]


def test_two_vendors_labelled_by_vendor_from_a_folder(tmp_path):
    entries = _emoji_json(4)
    google = write_emoji_tarball(tmp_path / "emoji-datasource-google-16.0.0.tgz", "google", entries)
    twitter = write_emoji_tarball(tmp_path / "emoji-datasource-twitter-16.0.0.tgz", "twitter", entries)
    (tmp_path / "unrelated.tgz").write_bytes(b"")
    counts = prepare_to(tmp_path / "out", _cfg(tmp_path, vendors=["twitter", "google"], label="vendor"))
    assert list(counts["train"]) == ["google", "twitter"]
    total = {v: counts["train"][v] + counts["test"][v] for v in ("google", "twitter")}
    assert total == {"google": len(google) - 1, "twitter": len(twitter) - 1}  # minus the Component image
    # The count check alone would pass with independent splits per vendor; the emoji CycleGAN
    # domains test below checks the held-out code points themselves.
    assert counts["test"]["google"] - counts["test"]["twitter"] in (0, 1)  # twitter lacks one image per category


def test_emoji_cyclegan_domains_pair_by_code_point_and_hold_out_the_same_ones(tmp_path):
    """`emoji:google` and `emoji:twitter` domains from one folder of tarballs: keys are the image
    names (code point and skin tone), the same code points are test in both vendors, and every
    test emoji of twitter has its google twin at the same key."""
    from ganlab.config import parse_params
    from ganlab.data.domains import prepare_domains
    from ganlab.data.prepared import load_split
    from ganlab.metrics.translation import pair_indices
    from tests.conftest import tiny_params

    entries = _emoji_json(6)
    google = write_emoji_tarball(tmp_path / "emoji-datasource-google-16.0.0.tgz", "google", entries)
    twitter = write_emoji_tarball(tmp_path / "emoji-datasource-twitter-16.0.0.tgz", "twitter", entries)
    p = parse_params(tiny_params(**{"cyclegan.source": str(tmp_path), "cyclegan.domain_a": "emoji:google",
                                    "cyclegan.domain_b": "emoji:twitter", "data.verify": False}))  # fmt: skip
    outs = {d: (tmp_path / f"out/{d}/train", tmp_path / f"out/{d}/test") for d in "ab"}
    prepare_domains(p.cyclegan, p.data, outs=outs, bad_out=tmp_path / "out/bad.txt")
    split = {(d, s): load_split(outs[d][i]) for d in "ab" for i, s in enumerate(("train", "test"))}
    keys = {k: v.keys for k, v in split.items()}
    # keys are the image names without .png; Component is left out
    assert set(keys["a", "train"]) | set(keys["a", "test"]) == {n.removesuffix(".png") for n in google} - {"1f3fb"}
    assert set(keys["b", "train"]) | set(keys["b", "test"]) == {n.removesuffix(".png") for n in twitter} - {"1f3fb"}
    code_point = {k: {key.split("-")[0] for key in v} for k, v in keys.items()}
    assert not code_point["a", "test"] & code_point["b", "train"]
    assert not code_point["b", "test"] & code_point["a", "train"]
    assert code_point["b", "test"] <= code_point["a", "test"] and keys["b", "test"]
    i, j = pair_indices(keys["b", "test"], keys["a", "test"])
    assert len(i) == len(keys["b", "test"])  # every test emoji of twitter has its google twin
    assert [keys["b", "test"][k] for k in i] == [keys["a", "test"][k] for k in j]
    # the twins are the vendors' own images of that emoji: the pixels differ, the key is shared
    assert not np.array_equal(split["b", "test"].images[i[0]].numpy(), split["a", "test"].images[j[0]].numpy())


def test_emoji_errors_name_the_problem(tmp_path):
    entries = _emoji_json(3)
    tgz = tmp_path / "emoji-datasource-google-16.0.0.tgz"
    write_emoji_tarball(tgz, "google", entries)
    with pytest.raises(DataError, match=r"is one tarball, but data.emoji.vendors names 2 vendors"):
        prepare_to(tmp_path / "out", _cfg(tgz, vendors=["google", "twitter"]))
    with pytest.raises(DataError, match=r"expected one emoji-datasource-twitter-\*.tgz in .*, found none"):
        prepare_to(tmp_path / "out", _cfg(tmp_path, vendors=["twitter"]))
    with pytest.raises(DataError, match=r"no images under package/img/twitter/64/"):
        prepare_to(tmp_path / "out", _cfg(tgz, vendors=["twitter"]))
    with pytest.raises(DataError, match=r"sha512 does not match the published emoji-datasource-google@16.0.0"):
        prepare_to(tmp_path / "out", _cfg(tgz, verify=True))
    entries.append({"unified": "1F999", "image": "1f999.png", "category": "Flags", "has_img_google": True})
    with tarfile.open(tgz, "r:gz") as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar if m.name != "package/emoji.json"]
    with tarfile.open(tgz, "w:gz") as tar:
        for m, data in members:
            tar.addfile(m, io.BytesIO(data))
        data = json.dumps(entries).encode()
        info = tarfile.TarInfo("package/emoji.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(DataError, match=r"emoji.json lists 1f999.png for google, but the tarball lacks it"):
        prepare_to(tmp_path / "out", _cfg(tgz))
    tgz.write_bytes(tgz.read_bytes()[:300])
    with pytest.raises(DataError, match=r"truncated or corrupt tarball"):
        prepare_to(tmp_path / "out", _cfg(tgz))
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_integrity_is_npm_dist_integrity(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(b"abc")
    # `printf abc | openssl dgst -sha512 -binary | base64`, as npm computes dist.integrity.
    assert integrity(path) == (
        "sha512-3a81oZNherrMQXNJriBBMRLm+k6JqX6iCp7u5ktV05ohkpkqJ0/BqDa6PCOj/uu9RU1EI2Q86A4qmslPpUyknw=="
    )
    assert set(EMOJI_INTEGRITY) == {"google", "twitter", "apple", "facebook"}


def test_source_download_fetches_each_vendor_from_the_npm_registry(tmp_path, monkeypatch):
    import ganlab.data.emoji as emoji_module

    entries = _emoji_json(3)
    fetched = []

    def fake_download(url, folder, filename, md5):
        fetched.append((url, folder, filename))
        vendor = filename.split("-")[2]
        folder.mkdir(parents=True, exist_ok=True)
        write_emoji_tarball(folder / filename, vendor, entries)
        return folder / filename

    monkeypatch.setenv("GANLAB_DATA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(emoji_module, "download", fake_download)
    counts = prepare_to(tmp_path / "out", _cfg("download", vendors=["google", "twitter"], label="vendor"))
    assert [f[0] for f in fetched] == [
        "https://registry.npmjs.org/emoji-datasource-google/-/emoji-datasource-google-16.0.0.tgz",
        "https://registry.npmjs.org/emoji-datasource-twitter/-/emoji-datasource-twitter-16.0.0.tgz",
    ]
    assert all(folder == tmp_path / "cache/emoji" for _, folder, _ in fetched)
    assert list(counts["train"]) == ["google", "twitter"]


def test_offline_download_is_a_clear_error(tmp_path, monkeypatch):
    from urllib.error import URLError

    import torchvision.datasets.utils as tv_utils

    def offline(*args, **kwargs):
        raise URLError("[Errno -2] Name or service not known")

    monkeypatch.setenv("GANLAB_DATA_CACHE", str(tmp_path))
    monkeypatch.setattr(tv_utils, "download_url", offline)
    with pytest.raises(DataError, match=r"could not download https://registry.npmjs.org/emoji-datasource-google/"):
        prepare_to(tmp_path / "out", _cfg("download"))
