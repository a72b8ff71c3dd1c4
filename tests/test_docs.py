"""The docs as a user meets them: every relative link and picture resolves, every `-S key=value`
they show is a real params key with a value the strict config accepts, the experiment files load,
and the pages speak of the project rather than of the history of its work."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from ganlab.config import YamlLoader, parse_params
from ganlab.errors import GanlabError
from ganlab.experiment import apply, parse_assignment, resolve
from ganlab.study import load_study

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", ROOT / "CONTRIBUTING.md", *(ROOT / "docs").rglob("*.md")])
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {slug(m) for m in re.findall(r"^#+ (.+)$", text, flags=re.M)}


def relative_links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return [t for t in LINK.findall(text) if not re.match(r"[a-z]+://|mailto:", t)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_and_images_exist(page):
    broken = []
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading #{anchor} in {dest.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_link_checker_catches_a_missing_file_and_anchor(tmp_path):
    page = tmp_path / "page.md"
    (tmp_path / "other.md").write_text("# Other page\n\n## Small sets\n")
    page.write_text("[ok](other.md#small-sets) [gone](missing.md) [bad](other.md#large-sets) ![p](x.png)\n")
    links = relative_links(page)
    assert links == ["other.md#small-sets", "missing.md", "other.md#large-sets", "x.png"]
    assert anchors(tmp_path / "other.md") == {"other-page", "small-sets"}
    assert slug("Training options in more detail") == "training-options-in-more-detail"
    assert slug("Configuration: `params.yaml`") == "configuration-paramsyaml"


def commands(page: Path) -> list[str]:
    """Shell commands in the page's code blocks and inline code, backslash continuations joined."""
    text = page.read_text().replace("\\\n", " ")
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", text, flags=re.S)
    lines = [line for block in blocks for line in block.splitlines()]
    lines += re.findall(r"`([^`\n]*-S [^`\n]*)`", text)
    lines = [re.sub(r"\s#\s.*$", "", line) for line in lines]  # shell comments
    return [line for line in lines if "-S " in line and "-S key=value" not in line]


def overrides(command: str) -> list[str]:
    words = shlex.split(command)
    return [words[i + 1] for i, w in enumerate(words[:-1]) if w in ("-S", "--set-param")]


def all_commands() -> list[tuple[str, str]]:
    return [(str(p.relative_to(ROOT)), c) for p in PAGES for c in commands(p)]


@pytest.mark.parametrize("where,command", all_commands(), ids=lambda v: v[:60] if isinstance(v, str) else v)
def test_every_shown_override_is_accepted_by_the_strict_config(where, command):
    base = yaml.load((ROOT / "params.yaml").read_text(), Loader=YamlLoader)
    sets = dict(parse_assignment(a) for a in overrides(command))
    assert sets, f"{where}: no -S found in {command!r}"
    try:
        parse_params(apply(base, sets, source=where))
    except GanlabError as e:
        pytest.fail(f"{where}: `{command.strip()}`: {e}")


def test_docs_show_overrides_at_all():
    # the parametrized test above would pass vacuously on an empty list
    assert len(all_commands()) >= 10


def test_override_check_rejects_a_wrong_key_and_a_wrong_value():
    base = yaml.load((ROOT / "params.yaml").read_text(), Loader=YamlLoader)
    with pytest.raises(GanlabError, match="sagan.lr_dd: no such key"):
        apply(base, dict([parse_assignment("sagan.lr_dd=1e-4")]), source="x")
    with pytest.raises(GanlabError, match="sagan.loss: expected one of"):
        parse_params(apply(base, dict([parse_assignment("sagan.loss=hinj")]), source="x"))


@pytest.mark.parametrize("path", sorted((ROOT / "experiments").glob("*.yaml")), ids=lambda p: p.name)
def test_experiment_files_load(path):
    sets, targets = resolve(path, [], ROOT / "params.yaml")
    assert sets, f"{path.name}: no overrides"
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert all(t in stages for t in targets), f"{path.name}: target {targets} names a stage dvc.yaml lacks"


@pytest.mark.parametrize("path", sorted((ROOT / "studies").glob("*.yaml")), ids=lambda p: p.name)
def test_study_files_load(path):
    """Every arm of every committed study passes the strict config, and its targets exist."""
    study = load_study(path, params_file=ROOT / "params.yaml")
    assert len(study.seeds) >= 3, f"{path.name}: a comparison needs at least 3 training seeds"
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert all(t in stages for t in study.targets), f"{path.name}: target {study.targets} names a stage dvc.yaml lacks"


HISTORY = [
    r"\bissues? \d+",
    r"\blooked at\b",
    r"\blent\b",
    r"\bborrowed\b",
    r"\bsessions?\b",
    r"\bwork tree\b",
    r"\bwas lost\b|\bwere lost\b|\blost with\b",
    r"\bour machines\b",
    r"\bseed (report|assignment) \d+",
]


@pytest.mark.parametrize(
    "page", [p for p in PAGES if p.name != "CONTRIBUTING.md"], ids=lambda p: str(p.relative_to(ROOT))
)
def test_docs_speak_of_the_project_not_of_the_history_of_its_work(page):
    text = page.read_text()
    found = [m.group(0) for pattern in HISTORY for m in re.finditer(pattern, text, flags=re.I)]
    assert not found, f"{page.relative_to(ROOT)}: work-history wording {found}"


def test_page_lengths():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200
    assert len((ROOT / "docs" / "results.md").read_text().splitlines()) <= 300


STUDY_SCRIPTS = sorted((ROOT / "docs/studies").glob("*.py"))


@pytest.mark.parametrize("script", STUDY_SCRIPTS, ids=[s.name for s in STUDY_SCRIPTS])
def test_the_study_scripts_still_import_and_parse_their_arguments(script, monkeypatch):
    """The scripts behind the single-seed study pages run outside DVC on the library; a renamed or
    moved module breaks them here, not when someone reruns a study."""
    import importlib.util
    import subprocess
    import sys

    monkeypatch.syspath_prepend(str(script.parent))  # they import each other
    spec = importlib.util.spec_from_file_location(f"study_{script.stem}", script)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    if "argparse" in script.read_text():
        result = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, cwd=ROOT)
        assert result.returncode == 0 and "usage:" in result.stdout, result.stderr[-2000:]


def test_a_study_variant_is_checked_params(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "docs/studies"))
    monkeypatch.chdir(ROOT)
    from variant import write_variant

    write_variant(tmp_path / "p.yaml", {"sagan.iterations": 300, "seeds": [1]})
    params = parse_params(yaml.safe_load((tmp_path / "p.yaml").read_text()))
    assert params.sagan.iterations == 300 and params.seeds == [1] and params.data.dataset == "fashion_mnist"
    with pytest.raises(GanlabError, match="sagan.lr_d"):
        write_variant(tmp_path / "q.yaml", {"sagan.lr_d": -1.0})


SHELL_SCRIPTS = sorted((ROOT / "docs/studies").glob("*.sh")) + sorted((ROOT / "bench").glob("*.sh"))


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=[s.name for s in SHELL_SCRIPTS])
def test_the_shell_scripts_parse_and_name_only_existing_files(script):
    import subprocess

    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for path in re.findall(r"(?:docs/studies|stages|bench)/[\w./-]+\.(?:py|sh)", script.read_text()):
        assert (ROOT / path).is_file(), f"{script.name} names {path}, which does not exist"
