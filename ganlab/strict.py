"""The strict loader under ganlab.config: YAML read as `dvc exp run -S` writes it, and a mapping
built into nested frozen dataclasses with every key required, no unknown key accepted, each value
of its field's type and within the rules the field declares (`_check`). Each error names the key,
what was expected and what was found.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from dataclasses import field
from pathlib import Path
from typing import Any

import yaml

from ganlab.errors import GanlabError


class ParamsError(GanlabError):
    """params.yaml is missing a key, has an unknown one, or holds a bad value."""


def check(*, gt=None, ge=None, lt=None, le=None, choices=None, items=None, pattern=None, pair=False):
    """Field metadata the loader enforces, so each rule sits next to the field it guards.

    `items`: the value is a list (or a comma-separated string) whose entries must be among them,
    each at most once."""
    return field(metadata=dict(gt=gt, ge=ge, lt=lt, le=le, choices=choices, items=items, pattern=pattern, pair=pair))


def comma_list(value: str) -> list[str]:
    """'color, translation' -> ['color', 'translation']; '' -> []."""
    return [part.strip() for part in value.split(",") if part.strip()]


class YamlLoader(yaml.SafeLoader):
    """SafeLoader that reads `4e-4` as a float (YAML 1.2), as `dvc exp run -S` writes it."""


YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def _coerce(value: Any, typ: type, key: str) -> Any:
    if dataclasses.is_dataclass(typ):
        return build(typ, value, key)
    if typing.get_origin(typ) is list:
        (item,) = typing.get_args(typ)
        if not isinstance(value, list):
            raise ParamsError(f"{key}: expected a list of {item.__name__}, found {value!r} ({type(value).__name__})")
        return [_coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    ok = {
        bool: lambda v: isinstance(v, bool),
        int: lambda v: isinstance(v, int) and not isinstance(v, bool),
        float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        str: lambda v: isinstance(v, str),
    }[typ](value)
    if not ok:
        raise ParamsError(f"{key}: expected {typ.__name__}, found {value!r} ({type(value).__name__})")
    return float(value) if typ is float else value


def _validate(value: Any, meta: dict, key: str) -> None:
    def fail(expected: str) -> None:
        raise ParamsError(f"{key}: expected {expected}, found {value!r}")

    if meta.get("choices") is not None and value not in meta["choices"]:
        fail("one of " + ", ".join(repr(c) for c in meta["choices"]))
    if meta.get("pattern") is not None and not re.fullmatch(meta["pattern"], value):
        fail(f"a value matching {meta['pattern']!r}")
    if meta.get("items") is not None:
        entries = comma_list(value) if isinstance(value, str) else value
        if isinstance(value, list) and not value:
            fail("a non-empty list of " + ", ".join(repr(c) for c in meta["items"]))
        if any(e not in meta["items"] for e in entries) or len(set(entries)) != len(entries):
            fail("distinct entries among " + ", ".join(repr(c) for c in meta["items"]))
    if meta.get("pair") and value and (len(value) != 2 or value[0] == value[1] or min(value) < 0):
        fail("two different class ids >= 0, or []")
    for op, holds, word in (
        ("gt", lambda a, b: a > b, ">"),
        ("ge", lambda a, b: a >= b, ">="),
        ("lt", lambda a, b: a < b, "<"),
        ("le", lambda a, b: a <= b, "<="),
    ):
        bound = meta.get(op)
        if bound is not None and not holds(value, bound):
            fail(f"a value {word} {bound}")


def build(cls: type, raw: Any, prefix: str) -> Any:
    where = prefix or "params.yaml"
    if not isinstance(raw, dict):
        raise ParamsError(f"{where}: expected a mapping, found {raw!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    types = _resolved_types(cls)
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        names = ", ".join(f"{prefix}.{k}" if prefix else str(k) for k in unknown)
        raise ParamsError(f"unknown key {names}; expected only {sorted(fields)} in {where}")
    values = {}
    for name, f in fields.items():
        key = f"{prefix}.{name}" if prefix else name
        if name not in raw:
            raise ParamsError(f"{key}: missing key (expected {types[name].__name__})")
        value = _coerce(raw[name], types[name], key)
        if not dataclasses.is_dataclass(types[name]):
            _validate(value, f.metadata, key)
        values[name] = value
    try:  # rules between fields (__post_init__) name their key without the section
        return cls(**values)
    except ParamsError as e:
        raise ParamsError(f"{prefix}.{e}" if prefix else str(e)) from None


def _resolved_types(cls: type) -> dict[str, type]:
    return typing.get_type_hints(cls)


def read_yaml(path: str | Path, *, missing: str) -> Any:
    """A YAML file as `-S` values read (YamlLoader); a missing file or bad YAML is a ParamsError
    naming the file (`missing` says what was expected there)."""
    path = Path(path)
    try:
        return yaml.load(path.read_text(), Loader=YamlLoader)
    except FileNotFoundError:
        raise ParamsError(f"{path}: {missing}") from None
    except yaml.YAMLError as e:
        raise ParamsError(f"{path}: not valid YAML: {e}") from None


def to_dict(cfg: Any) -> dict:
    """A config as plain types, for checkpoints (torch.load(weights_only=True) reads these)."""
    return dataclasses.asdict(cfg)
