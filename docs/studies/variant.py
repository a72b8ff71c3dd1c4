"""Write the params of one study run: params.yaml on CPU and real Fashion-MNIST (Debian's files),
with dotted overrides whose values are read as YAML.

    python docs/studies/variant.py OUT.yaml dcgan.iterations=3000 dcgan.precision=bf16 'seeds=[1]'

The result is checked by ganlab's strict loader before it is written.
"""

import sys
from pathlib import Path

import yaml

from ganlab.config import parse_params

FASHION_MNIST = "/usr/share/datasets/fashion-mnist"  # Debian's dataset-fashion-mnist


def write_variant(out: str | Path, overrides: dict, *, device: str = "cpu", source: str = FASHION_MNIST) -> None:
    """params.yaml with `overrides` ({"section.key": value}) on Fashion-MNIST, checked, at `out`."""
    params = yaml.safe_load(Path("params.yaml").read_text())
    params["device"] = device
    params["data"].update(dataset="fashion_mnist", source=source)
    for key, value in overrides.items():
        *sections, name = key.split(".")
        target = params
        for section in sections:
            target = target[section]
        if name not in target:
            sys.exit(f"error: {key}: no such key in params.yaml")
        target[name] = value
    parse_params(params)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(yaml.safe_dump(params, sort_keys=False))


def main(out: str, *overrides: str) -> None:
    write_variant(out, {key: yaml.safe_load(value) for key, _, value in (item.partition("=") for item in overrides)})


if __name__ == "__main__":
    main(*sys.argv[1:])
