"""CycleGAN's two image sets, each named by a spec (params `cyclegan.domain_a`, `domain_b`):

    emoji:<vendor>          one vendor's emoji artwork (npm emoji-datasource-<vendor>)
    folder:<path>           every image under a folder inside `cyclegan.source` (class subfolders
                            are merged); DVC watches `cyclegan.source`, so both domains live there
    fashion_mnist:<class>   one class of Fashion-MNIST, e.g. fashion_mnist:Sneaker
    cifar10:<class>         one class of CIFAR-10, e.g. cifar10:cat

A domain is one unlabelled set. Its images carry pairing keys where the spec gives them: an
emoji's image name (code point and skin tone, the same in every vendor's set), or a file's
path inside its folder without the extension. Emoji domains are read together, so every emoji
falls on the same side of the split in both, and each test emoji of A has its twin in test B.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ganlab.data import cifar10, fashion_mnist
from ganlab.data.base import DataError, Dataset, Images, provenance
from ganlab.data.emoji import read_emoji
from ganlab.data.folder import read_folder
from ganlab.data.prepare import keeps_earlier, write_prepared

if TYPE_CHECKING:
    from ganlab.config import CycleGANConfig, DataConfig

LABELLED = {"fashion_mnist": fashion_mnist.read_fashion_mnist, "cifar10": cifar10.read_cifar10}
DOMAINS = ("a", "b")


def parse_domain(spec: str) -> tuple[str, str]:
    """'emoji:google' -> ('emoji', 'google'); the config's pattern has already checked the form."""
    kind, _, arg = spec.partition(":")
    return kind, arg


def folder_root(source: str, arg: str, key: str) -> Path:
    """The folder of a `folder:<arg>` domain: `arg` inside `cyclegan.source`, which dvc.yaml names
    as prepare_cyclegan's dependency, so that DVC notices when its images change."""
    if source == "download":
        raise DataError(
            f"{key}=folder:{arg}: a folder domain lies inside cyclegan.source, which is 'download'; "
            f"set cyclegan.source to the folder that holds both domains' folders"
        )
    base = Path(source)
    root = base / arg
    if not root.resolve().is_relative_to(base.resolve()):
        raise DataError(
            f"{key}=folder:{arg}: expected a folder inside cyclegan.source ({source}), which DVC watches; "
            f"put both domains' folders under one folder, set cyclegan.source to it and name them relative to it"
        )
    return root


def _unlabelled(images: Images, keys: list[str] | None) -> Images:
    return dataclasses.replace(images, labels=np.zeros(len(images), dtype=np.int64), keys=keys)


def _folder_key(name: str, root: Path) -> str:
    path = Path(name)
    for base in (root / "train", root / "test", root):
        if path.is_relative_to(base):
            return path.relative_to(base).with_suffix("").as_posix()
    return path.with_suffix("").as_posix()


def _emoji_key(name: str) -> str:
    # "<tarball>:<vendor>/1f44d-1f3fb.png" -> "1f44d-1f3fb"
    return name.rsplit("/", 1)[1].removesuffix(".png")


def _select(dataset: Dataset, class_name: str, key: str) -> Dataset:
    if class_name not in dataset.classes:
        raise DataError(f"{key}: no class {class_name!r}; expected one of {dataset.classes}")
    c = dataset.classes.index(class_name)
    return Dataset(
        classes=[],
        train=_unlabelled(dataset.train.take(np.flatnonzero(dataset.train.labels == c)), None),
        test=_unlabelled(dataset.test.take(np.flatnonzero(dataset.test.labels == c)), None),
        origin=dataset.origin,
    )


def read_domains(cfg: CycleGANConfig, data: DataConfig) -> dict[str, Dataset]:
    """Domain "a" and "b" as unlabelled datasets with their train and test splits."""
    specs = {"a": parse_domain(cfg.domain_a), "b": parse_domain(cfg.domain_b)}
    vendors = sorted({arg for kind, arg in specs.values() if kind == "emoji"})
    emoji = None
    if vendors:
        emoji = read_emoji(
            cfg.source, vendors=vendors, label="vendor", verify=data.verify, test_fraction=data.test_fraction
        )
    out = {}
    for domain, (kind, arg) in specs.items():
        key = f"cyclegan.domain_{domain}"
        if kind == "emoji":
            v = emoji.classes.index(arg)
            out[domain] = Dataset(
                classes=[],
                train=_keyed(emoji.train.take(np.flatnonzero(emoji.train.labels == v)), _emoji_key),
                test=_keyed(emoji.test.take(np.flatnonzero(emoji.test.labels == v)), _emoji_key),
                origin=(emoji.origin[v],),  # read_emoji reads the vendors' tarballs in sorted order
            )
        elif kind == "folder":
            root = folder_root(cfg.source, arg, key)
            try:
                folder = read_folder(str(root), data.test_fraction)
            except DataError as e:
                raise DataError(f"{key}: {e}") from None
            out[domain] = Dataset(
                classes=[],
                train=_keyed(folder.train, lambda name: _folder_key(name, root)),
                test=_keyed(folder.test, lambda name: _folder_key(name, root)),
                origin=folder.origin,
            )
        else:
            out[domain] = _select(LABELLED[kind](cfg.source, data.verify), arg, key)
    return out


def _keyed(images: Images, key_of) -> Images:
    return _unlabelled(images, [key_of(name) for name in images.names])


def prepare_domains(
    cfg: CycleGANConfig, data: DataConfig, *, outs: dict[str, tuple[Path, Path]], bad_out: str | os.PathLike
) -> dict[str, int]:
    """Write each domain's (train, test) split to `outs[domain]`, atomically as `prepare` does.
    Returns the image count of each written split ("a/train", ...)."""
    with keeps_earlier([o for pair in outs.values() for o in pair], "prepare_cyclegan"):
        return _prepare_domains(cfg, data, outs=outs, bad_out=bad_out)


def _prepare_domains(cfg, data, *, outs, bad_out) -> dict[str, int]:
    domains = read_domains(cfg, data)
    splits = {}
    for domain, (train_out, test_out) in outs.items():
        for split, out in (("train", train_out), ("test", test_out)):
            images = getattr(domains[domain], split)
            if len(images) == 0:
                spec = getattr(cfg, f"domain_{domain}")
                raise DataError(f"cyclegan.domain_{domain}={spec}: the {split} split holds no images")
            splits[f"{domain}/{split}"] = (Path(out), images)
    read = {d: provenance(cfg.source, domains[d].origin) for d in outs}
    counts = write_prepared(
        splits,
        classes=[],
        resolution=cfg.resolution,
        on_bad=data.on_bad,
        bad_out=bad_out,
        source={split: read[split.split("/")[0]] for split in splits},
    )
    return {split: sum(c.values()) for split, c in counts.items()}
