"""The emoji sets of the npm packages `emoji-datasource-<vendor>` (iamcal/emoji-data): each
vendor's artwork as 64×64 RGBA PNGs in `package/img/<vendor>/64/`, and `package/emoji.json`
giving every image's category.

Every image a vendor has is used, skin-tone variations included, except the "Component"
category (skin-tone swatches and hair parts, not emojis). The test split is held out per code
point: an emoji and all its variations, in every vendor's artwork, fall on the same side, so a
test emoji is one never seen in training (the CycleGAN issue's paired evaluation relies on it).
"""

from __future__ import annotations

import base64
import hashlib
import json
import tarfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ganlab.data.base import DataError, Dataset, EncodedImages, download, download_dir, stratified_test_mask

if TYPE_CHECKING:
    from ganlab.config import DataConfig

EMOJI_VERSION = "16.0.0"
# The npm registry's published integrity of each package at EMOJI_VERSION.
EMOJI_INTEGRITY = {
    "google": "sha512-ZRexfzs7MVoLnmzZmNsO4TKhnAJp5D++Vm6PpUpH/jEQQlemp3l88CjZ+DoZ2faM9R4QxZkOPJCoT8DlPhfQ3A==",
    "twitter": "sha512-7F+uCuHH+7Qnrc15P5tnbvKkg9E6tlzi4MnT2uW1RlN4pLYTza6cP/dstIfSDMtpjFLWuZewWg8jBbuL2eyELQ==",
    "apple": "sha512-dVYjsK0FnCry9F+PBtnivhG2K0xdwlmqYaSgiUtztUdAGPYiHYhZcVKvNBqC791g2qyEcFNTBO6utg4eQ3uLTw==",
    "facebook": "sha512-b9ZxJdB7nMWGckH1vyCjPSosaa6MJYuojPPFiQ0LmDIZS8vlG454XKcmTFKrXIMAA72O4MRJMYFhvWI8pjyciQ==",
}
EXCLUDED_CATEGORIES = ("Component",)
IMAGE_SIZE = 64


def package_name(vendor: str) -> str:
    return f"emoji-datasource-{vendor}"


def tarball_name(vendor: str, version: str = EMOJI_VERSION) -> str:
    return f"{package_name(vendor)}-{version}.tgz"


def integrity(path: Path) -> str:
    """npm's `dist.integrity` of a file: sha512, base64."""
    digest = hashlib.sha512()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            digest.update(chunk)
    return "sha512-" + base64.b64encode(digest.digest()).decode()


def _tarball(source: str, vendor: str, n_vendors: int) -> Path:
    """The tarball of `vendor`: downloaded, the file named by `source`, or found in its folder."""
    if source == "download":
        name = tarball_name(vendor)
        url = f"https://registry.npmjs.org/{package_name(vendor)}/-/{name}"
        return download(url, download_dir() / "emoji", name, md5=None)
    path = Path(source)
    if path.is_file():
        if n_vendors > 1:
            raise DataError(
                f"data.source: {path} is one tarball, but data.emoji.vendors names {n_vendors} vendors; "
                f"set data.source to a folder holding {package_name('<vendor>')}-*.tgz for each"
            )
        return path
    if path.is_dir():
        found = sorted(path.glob(f"{package_name(vendor)}-*.tgz"))
        if len(found) != 1:
            raise DataError(
                f"data.source: expected one {package_name(vendor)}-*.tgz in {path}, found "
                f"{[p.name for p in found] or 'none'} (`npm pack {package_name(vendor)}` downloads it)"
            )
        return found[0]
    raise DataError(f"data.source: {path} does not exist (expected an {package_name(vendor)} tarball or its folder)")


def _read_tarball(path: Path, vendor: str) -> tuple[list, dict[str, bytes]]:
    """emoji.json and the bytes of every 64-px PNG of `vendor` in one pass over the tarball."""
    prefix = f"package/img/{vendor}/{IMAGE_SIZE}/"
    meta, pngs = None, {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                if member.name == "package/emoji.json":
                    meta = json.loads(tar.extractfile(member).read())
                elif member.name.startswith(prefix):
                    pngs[member.name[len(prefix) :]] = tar.extractfile(member).read()
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise DataError(f"{path}: truncated or corrupt tarball ({type(e).__name__}: {e})") from e
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: package/emoji.json is not valid JSON ({e})") from e
    if meta is None:
        raise DataError(f"{path}: no package/emoji.json (expected the npm package {package_name(vendor)})")
    if not pngs:
        raise DataError(f"{path}: no images under {prefix} (is this the tarball of {package_name(vendor)}?)")
    return meta, pngs


def _entries(meta: list, vendor: str) -> list[tuple[str, str, str]]:
    """(image file, code point of the base emoji, category) of every image `vendor` has."""
    out = []
    for emoji in meta:
        if emoji["category"] in EXCLUDED_CATEGORIES:
            continue
        variants = [emoji, *(emoji.get("skin_variations") or {}).values()]
        out += [(v["image"], emoji["unified"], emoji["category"]) for v in variants if v.get(f"has_img_{vendor}")]
    return out


def read_emoji(source: str, *, vendors: list[str], label: str, verify: bool, test_fraction: float) -> Dataset:
    names, payloads, groups, categories, vendor_ids, tarballs = [], [], [], [], [], []
    for v, vendor in enumerate(sorted(vendors)):
        path = _tarball(source, vendor, len(vendors))
        tarballs.append(path)
        if verify and integrity(path) != EMOJI_INTEGRITY[vendor]:
            raise DataError(
                f"{path}: sha512 does not match the published {package_name(vendor)}@{EMOJI_VERSION} "
                "(truncated download or another version; data.verify=false accepts it)"
            )
        meta, pngs = _read_tarball(path, vendor)
        for image, code_point, category in sorted(_entries(meta, vendor)):
            if image not in pngs:
                raise DataError(f"{path}: emoji.json lists {image} for {vendor}, but the tarball lacks it")
            names.append(f"{path.name}:{vendor}/{image}")
            payloads.append(pngs[image])
            groups.append(code_point)
            categories.append(category)
            vendor_ids.append(v)
    category_names = sorted(set(categories))
    category_ids = np.asarray([category_names.index(c) for c in categories], dtype=np.int64)
    classes, labels = (
        (category_names, category_ids) if label == "category" else (sorted(vendors), np.asarray(vendor_ids))
    )
    is_test = stratified_test_mask(np.asarray(groups), category_ids, test_fraction)

    def part(mask: np.ndarray) -> EncodedImages:
        idx = np.flatnonzero(mask)
        return EncodedImages([names[i] for i in idx], [payloads[i] for i in idx], labels[idx].astype(np.int64))

    return Dataset(classes=classes, train=part(~is_test), test=part(is_test), origin=tuple(tarballs))


def read(cfg: DataConfig) -> Dataset:
    return read_emoji(
        cfg.source,
        vendors=list(cfg.emoji.vendors),
        label=cfg.emoji.label,
        verify=cfg.verify,
        test_fraction=cfg.test_fraction,
    )
