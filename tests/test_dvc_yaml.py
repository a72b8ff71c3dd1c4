"""dvc.yaml lists, for each stage, exactly the ganlab modules its script imports (transitively):
a missing one lets DVC skip a stage whose code changed, an extra one re-runs it for nothing."""

import ast
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

STAGES = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def _imported(script: Path, seen: set[str]) -> set[str]:
    for node in ast.walk(ast.parse(script.read_text())):
        modules = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ganlab"):
            modules = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names if alias.name.startswith("ganlab")]
        for module in modules:
            parts = module.split(".")
            for candidate in (Path(*parts).with_suffix(".py"), Path(*parts, "__init__.py")):
                if (REPO / candidate).exists() and str(candidate) not in seen:
                    seen.add(str(candidate))
                    _imported(REPO / candidate, seen)
    return seen


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_deps_match_imports(name):
    stage = STAGES[name].get("do", STAGES[name])
    script = next(word for word in stage["cmd"].split() if word.startswith("stages/"))
    assert script in stage["deps"]
    imported = {m for m in _imported(REPO / script, set()) if m != "ganlab/__init__.py"}
    listed = [d for d in stage["deps"] if d.startswith("ganlab")]

    def covers(dep: str, module: str) -> bool:
        return module == dep or module.startswith(dep.rstrip("/") + "/")

    missing = sorted(m for m in imported if not any(covers(d, m) for d in listed))
    extra = sorted(d for d in listed if not any(covers(d, m) for m in imported))
    assert not missing and not extra, f"{name}: missing {missing}, not imported {extra}"
