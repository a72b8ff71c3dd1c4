"""Experiment files (ganlab.experiment): overrides kept in one file, checked by the strict config,
run as a named `dvc exp run`."""

import json
import re
import subprocess
import sys

import pytest
import yaml

from ganlab.errors import GanlabError
from ganlab.experiment import dvc_command, flatten, parse_assignment, read_overrides, resolve
from tests.conftest import REPO, write_cifar10
from tests.dvc_repo import cifar_params, env, make_repo, run


def test_flatten_and_the_command_round_trip(tmp_path):
    assert flatten({"data": {"emoji": {"vendors": ["google"]}}, "seeds": [1]}) == {
        "data.emoji.vendors": ["google"], "seeds": [1]}  # fmt: skip
    sets = {"render.interpolate": [1, 9], "sagan.lr_d": 4e-4, "data.source": "/a b/c", "sagan.diffaug": ""}
    command = dvc_command("quick", sets, ["report", "render"], ["--queue"])
    assert command[:5] == ["dvc", "exp", "run", "-n", "quick"] and command[-3:] == ["--queue", "report", "render"]
    shown = [command[i + 1] for i, word in enumerate(command) if word == "-S"]
    assert dict(parse_assignment(a) for a in shown) == sets  # what `-S` parses back is what the file said


def test_file_and_extra_overrides_are_checked_naming_the_key(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("target: render\nsagan:\n  lr_d: 2.0e-4\n")
    sets, targets = resolve(path, ["seeds=[3]"], REPO / "params.yaml")
    assert sets == {"sagan.lr_d": 2e-4, "seeds": [3]} and targets == ["render"]
    with pytest.raises(GanlabError, match=r"-S: sagan.lr_dd: no such key in params.yaml"):
        resolve(path, ["sagan.lr_dd=1"], REPO / "params.yaml")
    path.write_text("sagan:\n  loss: hinj\n")
    with pytest.raises(GanlabError, match=r"exp.yaml with .*params.yaml: sagan.loss: expected one of"):
        resolve(path, [], REPO / "params.yaml")
    path.write_text("target: {render: 1}\n")
    with pytest.raises(GanlabError, match=r"target: expected a stage name or a list of them"):
        read_overrides(path)
    path.write_text("[1, 2]\n")
    with pytest.raises(GanlabError, match=r"expected a mapping of params sections, found list"):
        read_overrides(path)
    with pytest.raises(GanlabError, match=r"missing.yaml: experiment file not found"):
        read_overrides(tmp_path / "missing.yaml")


@pytest.mark.slow
def test_an_experiment_file_runs_as_a_named_dvc_experiment(tmp_path):
    write_cifar10(tmp_path / "cifar", per_batch=20)
    repo = make_repo(tmp_path / "repo", **cifar_params(tmp_path / "cifar"))
    (repo / "experiments/tiny.yaml").write_text(yaml.safe_dump({"target": "prepare", "data": {"test_fraction": 0.2}}))
    result = subprocess.run([sys.executable, "-m", "ganlab.experiment", "experiments/tiny.yaml", "-S", "seeds=[5]"],
                            cwd=repo, env=env(), capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "dvc exp run -n tiny -S data.test_fraction=0.2 -S 'seeds=[5]' prepare" in result.stdout
    assert "tiny" in json.dumps(json.loads(run(repo, "dvc", "exp", "show", "--json")))
    # the same file again: it runs, and the earlier experiment stays, renamed
    again = subprocess.run([sys.executable, "-m", "ganlab.experiment", "experiments/tiny.yaml"], cwd=repo, env=env(),
                           capture_output=True, text=True)  # fmt: skip
    assert again.returncode == 0, again.stderr[-2000:]
    kept = re.search(r"the earlier experiment 'tiny' is kept as '(tiny-\d{8}-\d{6})'", again.stdout).group(1)
    listed = run(repo, "dvc", "exp", "list", "--name-only").split()
    assert "tiny" in listed and kept in listed
    bad = subprocess.run([sys.executable, "-m", "ganlab.experiment", "experiments/tiny.yaml", "-S", "sed=5"],
                         cwd=repo, env=env(), capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 2 and "sed: no such key" in bad.stderr
