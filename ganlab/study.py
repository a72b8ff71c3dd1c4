"""Run a committed study as DVC experiments, then compare its arms over seeds.

    python -m ganlab.study studies/results.yaml [--jobs 2] [-S key=value ...] [--dry-run]

A study file (studies/*.yaml) names its seeds, the stages to reproduce, the overrides every arm
shares, and its arms: each an override set or an experiment file. Each arm becomes the DVC
experiment `<study>-<arm>`, run in its own git worktree under runs/studies/<study>/<arm>/ so that
its outputs persist there: run the same command again after an interruption and every run resumes
from its last checkpoint, every scored checkpoint stays scored, and finished arms are skipped.

Seeds side by side: before `dvc repro`, the arm's training stages run as parallel processes
(`--jobs`, each with its share of the CPU threads); DVC then finds them trained (they resume at
their last iteration) and scores, reports and summarizes them, and `dvc exp save` records the
experiment. A seed whose run fails is named.

The arms' summaries are compared (ganlab.compare) into studies/<study>/compare.{md,json}, and
each arm's figures over seeds are copied beside them for the docs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ganlab.compare import SUMMARIES, compare, read_summaries, rows_of, to_markdown
from ganlab.config import ParamsError, parse_params, read_yaml
from ganlab.errors import GanlabError
from ganlab.experiment import apply, flatten, parse_assignment, read_overrides
from ganlab.io import atomic_write_text

STUDY_KEYS = {"seeds", "target", "common", "arms", "compare"}
TRAIN_STAGE = re.compile(r"^train(_cyclegan)?@")
FIGURES = ("fid.png", "kid.png", "prdc.png", "cyclegan/curves.png")
GRIDS = ("dcgan_samples.png", "sagan_classes.png", "sagan_samples.png", "a2b.png", "b2a.png")


@dataclass(frozen=True, kw_only=True)
class Arm:
    name: str
    overrides: dict[str, Any]  # dotted keys, the study's common ones and seeds included
    params: dict  # params.yaml with the overrides applied (validated)


@dataclass(frozen=True, kw_only=True)
class Study:
    name: str
    seeds: list[int]
    targets: list[str]
    arms: list[Arm]
    compare: dict = field(default_factory=dict)


def load_study(path: str | Path, extra: list[str] = (), params_file: str | Path = "params.yaml") -> Study:
    """The study file, every arm's params checked against the strict config before anything runs."""
    path = Path(path)
    raw = read_yaml(path, missing="study file not found")
    if not isinstance(raw, dict):
        raise GanlabError(f"{path}: expected a mapping with {sorted(STUDY_KEYS)}, found {type(raw).__name__}")
    unknown = sorted(set(raw) - STUDY_KEYS)
    if unknown:
        raise GanlabError(f"{path}: unknown key(s) {unknown}; expected only {sorted(STUDY_KEYS)}")
    seeds = raw.get("seeds")
    if not isinstance(seeds, list) or len(seeds) < 1:
        raise GanlabError(f"{path}: seeds: expected a list of training seeds, found {seeds!r}")
    target = raw.get("target", [])
    targets = [target] if isinstance(target, str) else list(target)
    arms_raw = raw.get("arms")
    if not isinstance(arms_raw, dict) or not arms_raw:
        raise GanlabError(f"{path}: arms: expected a mapping of arm name -> overrides or experiment file")
    common = flatten(raw.get("common") or {})
    base = read_yaml(params_file, missing="params file not found (run from the repository root)")
    from_args = dict(parse_assignment(a) for a in extra)
    arms = []
    for name, spec in arms_raw.items():
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", str(name)):
            raise GanlabError(f"{path}: arms.{name}: an arm name is letters, digits, '.', '_' and '-'")
        if isinstance(spec, str):
            own, _ = read_overrides(path.parent / spec if not Path(spec).exists() else spec)
        elif isinstance(spec, dict) or spec is None:
            own = flatten(spec or {})
        else:
            raise GanlabError(f"{path}: arms.{name}: expected overrides or an experiment file, found {spec!r}")
        overrides = {**common, **own, **from_args, "seeds": seeds}
        params = apply(base, overrides, source=f"{path}: arms.{name}")
        try:
            parse_params(params)
        except ParamsError as e:
            raise GanlabError(f"{path}: arms.{name}: {e}") from None
        arms.append(Arm(name=str(name), overrides=overrides, params=params))
    return Study(name=path.stem, seeds=seeds, targets=targets, arms=arms, compare=raw.get("compare") or {})


def code_env(wt: Path, base: dict | None = None) -> dict:
    """The environment of every command run in worktree `wt`: its stages import the worktree's
    own ganlab, the commit the experiment records, not the checkout an editable install of
    ganlab points at (which may hold other, uncommitted code)."""
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = os.pathsep.join([str(wt.resolve()), *filter(None, [env.get("PYTHONPATH")])])
    return env


def _run(args: list[str], cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, text=True, env=code_env(cwd), **kwargs)


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, text=True, capture_output=True, check=True).stdout.strip()


def worktree(repo: Path, path: Path) -> Path:
    """A git worktree of HEAD at `path`, made once; later runs move it to the current HEAD and keep
    its untracked outputs (checkpoints, scores), which is what lets an arm resume."""
    head = _git(repo, "rev-parse", "HEAD")
    if not (path / ".git").exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        _git(repo, "worktree", "add", "--detach", str(path), head)
    elif _git(path, "rev-parse", "HEAD") != head:
        _git(path, "checkout", "--detach", "--force", head)
    # One DVC cache with the repository: `dvc exp show`, `dvc plots diff`, `dvc exp apply` and
    # ganlab.compare there read the arm's outputs, and stages the arms share (prepare's data,
    # the FID reference) come from DVC's run-cache instead of running again.
    cache = (repo / ".dvc" / "cache").resolve()
    _check(_run(["dvc", "cache", "dir", "--local", str(cache)], path, capture_output=True), f"{path}: dvc cache dir")
    return path


def upstream_commands(wt: Path, targets: list[str]) -> dict[str, str]:
    """stage -> command of every stage `dvc repro TARGETS` would consider (all for no targets), in
    pipeline order, from DVC's own resolved dvc.yaml."""
    import networkx as nx
    from dvc.repo import Repo

    with Repo(str(wt)) as repo:
        graph = repo.index.graph
        chosen = [s for s in graph if not targets or s.name in targets or s.name.split("@")[0] in targets]
        if targets and not chosen:
            raise GanlabError(f"target: no stage named {targets} in dvc.yaml")
        wanted = set().union(*(nx.dfs_postorder_nodes(graph, s) for s in chosen))
        order = [s for s in nx.topological_sort(graph.reverse()) if s in wanted]
        return {s.name: s.cmd for s in order if getattr(s, "cmd", None)}


def up_to_date(wt: Path, targets: list[str]) -> bool:
    out = _run(["dvc", "status", *targets], wt, capture_output=True)
    return out.returncode == 0 and "up to date" in out.stdout


def train_side_by_side(wt: Path, commands: dict[str, str], *, jobs: int, log_dir: Path) -> list[str]:
    """Run the training commands `jobs` at a time, each with its share of the CPU threads; returns
    the stages that failed (their logs in `log_dir`)."""
    threads = max(1, (os.cpu_count() or 1) // jobs)
    env = code_env(wt, {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)})
    log_dir.mkdir(parents=True, exist_ok=True)

    def one(item: tuple[str, str]) -> tuple[str, int]:
        stage, command = item
        with open(log_dir / f"{stage}.log", "a") as log:
            print(f"  {stage}: {command}", flush=True)
            return stage, subprocess.call(shlex.split(command), cwd=wt, env=env, stdout=log, stderr=subprocess.STDOUT)

    with ThreadPoolExecutor(jobs) as pool:
        results = list(pool.map(one, commands.items()))
    return [stage for stage, rc in results if rc != 0]


def failure_message(name: str, failed: list[str], log_dir: Path) -> str:
    """Which seeds failed (train@sagan-2 -> 2, train_cyclegan@1 -> 1), by name, never dropped."""
    seeds = sorted({re.split(r"[@-]", stage)[-1] for stage in failed}, key=int)
    return (
        f"{name}: seed(s) {', '.join(seeds)} failed to train ({', '.join(failed)}); logs in {log_dir}. "
        "Fix the cause and run the study again: the other seeds resume where they are."
    )


def experiment_exists(repo: Path, name: str) -> bool:
    refs = _git(repo, "for-each-ref", "--format=%(refname)", "refs/exps")
    return any(ref.rsplit("/", 1)[-1] == name for ref in refs.splitlines())


def run_arm(repo: Path, study: Study, arm: Arm, *, jobs: int, root: Path) -> Path:
    """Bring one arm to done in its worktree; returns the worktree."""
    name = f"{study.name}-{arm.name}"
    wt = worktree(repo, root / study.name / arm.name)
    atomic_write_text(yaml.safe_dump(arm.params, sort_keys=False), wt / "params.yaml")
    if experiment_exists(repo, name) and up_to_date(wt, study.targets):
        print(f"{name}: done (nothing to reproduce)")
        return wt
    stages = upstream_commands(wt, study.targets)
    data = [s for s in stages if s.startswith("prepare")]  # what training reads: prepared first
    if data:
        _check(_run(["dvc", "repro", *data], wt), f"{name}: dvc repro {' '.join(data)}")
    # A finished run returns at once ("already trained"), an interrupted one resumes.
    training = {s: c for s, c in stages.items() if TRAIN_STAGE.match(s)}
    if jobs > 1 and len(training) > 1:
        logs = wt / "runs" / "logs"  # git-ignored: not part of the experiment
        failed = train_side_by_side(wt, training, jobs=jobs, log_dir=logs)
        if failed:
            raise GanlabError(failure_message(name, failed, logs))
    # `dvc repro`, then `dvc exp save`: `dvc exp run` would first check out the lock's outputs and
    # delete training runs it has no record of, the very runs trained side by side above.
    _check(_run(["dvc", "repro", *study.targets], wt), f"{name}: dvc repro")
    if experiment_exists(repo, name):  # an interrupted earlier attempt: its outputs are still here
        _check(_run(["dvc", "exp", "remove", name], wt), f"{name}: dvc exp remove")
    # (the targets: stages outside them, not reproduced, have no outputs to save)
    save = ["dvc", "exp", "save", "-f", "-n", name, "-I", "dvc.lock", *study.targets]
    _check(_run(save, wt), f"{name}: dvc exp save")
    return wt


def _check(result: subprocess.CompletedProcess, what: str) -> None:
    if result.returncode != 0:
        raise GanlabError(f"{what} failed (exit {result.returncode}); run the study again to resume")


def compare_study(study: Study, worktrees: dict[str, Path], out: Path) -> str:
    """studies/<study>/compare.{md,json} from the arms' summaries, and their figures beside them."""
    rows, pending = [], []
    for arm in study.arms:
        wt = worktrees[arm.name]
        if not any((wt / summary).is_file() for summary in SUMMARIES):
            pending.append(arm.name)  # not run yet (`--arms` ran others): compared once it is
            continue
        rows += rows_of(f"{study.name}-{arm.name}", read_summaries("workspace", repo=wt))
        for figure in FIGURES:
            if (wt / "plots" / figure).is_file():
                target = out / arm.name / figure.replace("/", "_")
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(wt / "plots" / figure, target)
        seed_plots = wt / "plots" / "seeds" / str(study.seeds[0])
        for grid in GRIDS:
            for found in (seed_plots / grid, wt / "plots/cyclegan/seeds" / str(study.seeds[0]) / grid):
                if found.is_file():
                    shutil.copyfile(found, out / arm.name / f"seed{study.seeds[0]}_{grid}")
    if not rows:
        raise GanlabError(f"{study.name}: no arm has finished yet ({', '.join(pending)})")
    result = compare(
        rows,
        metrics=study.compare.get("metrics"),
        across_models=bool(study.compare.get("across_models", len(study.arms) == 1)),
    )
    text = f"# {study.name}: {len(study.arms)} arm(s), seeds {study.seeds}\n\n"
    if pending:
        text += f"Not run yet, so not compared: {', '.join(pending)}.\n\n"
    text += to_markdown(result)
    atomic_write_text(text, out / "compare.md")
    atomic_write_text(json.dumps(result, indent=2) + "\n", out / "compare.json")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", help="a study file, e.g. studies/results.yaml")
    parser.add_argument("-S", "--set-param", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="seeds trained side by side")
    parser.add_argument("--arms", nargs="+", help="run only these arms (compare all that are done)")
    parser.add_argument("--compare-only", action="store_true", help="compare the arms as they are")
    parser.add_argument("--dry-run", action="store_true", help="check the study and print its arms")
    parser.add_argument("--root", default="runs/studies", help="where the arms' worktrees live")
    args = parser.parse_args(argv)
    repo = Path.cwd()
    try:
        study = load_study(args.file, args.set_param)
        for arm in study.arms:
            print(f"{study.name}-{arm.name}: " + " ".join(f"{k}={v}" for k, v in arm.overrides.items()))
        if args.dry_run:
            return 0
        worktrees = {}
        for arm in study.arms:
            if args.compare_only or (args.arms and arm.name not in args.arms):
                worktrees[arm.name] = Path(args.root) / study.name / arm.name
            else:
                worktrees[arm.name] = run_arm(repo, study, arm, jobs=args.jobs, root=Path(args.root))
        print(compare_study(study, worktrees, Path(args.file).with_suffix("")), end="")
    except GanlabError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
