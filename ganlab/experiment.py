"""Run a named DVC experiment whose overrides live in one readable file.

    python -m ganlab.experiment experiments/quick.yaml [-S key=value ...] [--dry-run] [-- DVC_ARGS]

The file mirrors params.yaml, holding only the keys it changes, plus `target` (the stage or list
of stages `dvc exp run` reproduces, with everything upstream of them; omitted: the whole pipeline). Its name (the file's
stem) names the experiment, so it shows as such in `dvc exp show`. Extra `-S key=value` arguments
apply on top of the file's, e.g. a local data path offline.

Every override is checked against the strict config before DVC starts, so a typo fails in a
second, naming the key, and not after a stage or two has run.
"""

from __future__ import annotations

import argparse
import copy
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from ganlab.config import ParamsError, YamlLoader, parse_params, read_yaml
from ganlab.errors import GanlabError


def flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    """{"data": {"dataset": "x"}} -> {"data.dataset": "x"}; lists stay values."""
    out = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def read_overrides(path: str | Path) -> tuple[dict[str, Any], list[str]]:
    """The file's overrides as dotted keys, and its target stages ([]: the whole pipeline)."""
    path = Path(path)
    raw = read_yaml(path, missing="experiment file not found")
    if not isinstance(raw, dict):
        raise GanlabError(f"{path}: expected a mapping of params sections, found {type(raw).__name__}")
    raw = dict(raw)
    target = raw.pop("target", [])
    targets = [target] if isinstance(target, str) else target
    if not isinstance(targets, list) or not all(isinstance(t, str) and t for t in targets):
        raise GanlabError(f"{path}: target: expected a stage name or a list of them, found {target!r}")
    return flatten(raw), targets


def parse_assignment(text: str) -> tuple[str, Any]:
    """`key=value` as `dvc exp run -S` reads it: the value is YAML."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise GanlabError(f"-S {text}: expected key=value")
    return key, yaml.load(value, Loader=YamlLoader)


def apply(params: dict, overrides: dict[str, Any], *, source: str) -> dict:
    """A copy of `params` with dotted-key overrides set; a key params.yaml lacks is an error."""
    out = copy.deepcopy(params)
    for key, value in overrides.items():
        node, parts = out, key.split(".")
        for i, part in enumerate(parts):
            if not isinstance(node, dict) or part not in node:
                raise GanlabError(f"{source}: {key}: no such key in params.yaml ({'.'.join(parts[: i + 1])})")
            if i == len(parts) - 1:
                node[part] = value
            else:
                node = node[part]
    return out


def resolve(path: str | Path, extra: list[str], params_file: str | Path = "params.yaml") -> tuple[dict, list[str]]:
    """The experiment's overrides (the file's, then `extra`'s), validated against the strict config
    as params.yaml would hold them. Returns (overrides, target stages)."""
    from_file, target = read_overrides(path)
    from_args = dict(parse_assignment(a) for a in extra)
    base = read_yaml(params_file, missing="params file not found (run from the repository root)")
    merged = apply(apply(base, from_file, source=str(path)), from_args, source="-S")
    try:
        parse_params(merged)
    except ParamsError as e:
        raise GanlabError(f"{path} with {params_file}: {e}") from None
    return {**from_file, **from_args}, target


def dvc_command(name: str, overrides: dict[str, Any], targets: list[str], dvc_args: list[str]) -> list[str]:
    sets = []
    for key, value in overrides.items():
        # flow style keeps lists and strings as YAML that `-S` parses back to the same value
        text = yaml.safe_dump(value, default_flow_style=True, width=1_000_000)
        sets += ["-S", f"{key}={text.strip().removesuffix('...').strip()}"]
    return ["dvc", "exp", "run", "-n", name, *sets, *dvc_args, *targets]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", help="an experiment file, e.g. experiments/quick.yaml")
    parser.add_argument("-S", "--set-param", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--dry-run", action="store_true", help="print the dvc command, run nothing")
    args, dvc_args = parser.parse_known_args(argv)
    dvc_args = [a for a in dvc_args if a != "--"]
    try:
        overrides, targets = resolve(args.file, args.set_param)
    except GanlabError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    name = Path(args.file).stem
    command = dvc_command(name, overrides, targets, dvc_args)
    print(shlex.join(command), flush=True)
    if args.dry_run:
        return 0
    if "--queue" not in dvc_args:
        keep_earlier(name)
    return subprocess.call(command)


def keep_earlier(name: str) -> str | None:
    """A second run of an experiment file replaces the experiment of its name in `dvc exp show`;
    the earlier one stays reachable, renamed to `<name>-<its commit's time>`. Returns that name."""
    refs = subprocess.run(
        ["git", "for-each-ref", "--format=%(refname) %(committerdate:format:%Y%m%d-%H%M%S)", "refs/exps"],
        capture_output=True, text=True,
    ).stdout.split("\n")  # fmt: skip
    stamp = next((line.split()[1] for line in refs if line.split() and line.split()[0].endswith(f"/{name}")), None)
    if stamp is None:
        return None
    kept = f"{name}-{stamp}"
    subprocess.run(["dvc", "exp", "rename", name, kept], check=True, capture_output=True)
    print(f"the earlier experiment {name!r} is kept as {kept!r} (dvc exp show -A lists it); this run replaces it")
    return kept


if __name__ == "__main__":
    sys.exit(main())
