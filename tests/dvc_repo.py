"""A temporary git + DVC repo holding this checkout, with tiny params, and the commands the
pipeline tests run in it."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import REPO, tiny_params


def env() -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"  # `python`/`dvc` of this venv
    env["OMP_NUM_THREADS"] = "1"  # identical CPU reductions across the runs compared below
    for key in ("AUTHOR", "COMMITTER"):
        env[f"GIT_{key}_NAME"], env[f"GIT_{key}_EMAIL"] = "ganlab test", "test@ganlab.invalid"
    env["DVC_NO_ANALYTICS"] = "1"
    return env


def run(repo: Path, *args: str) -> str:
    result = subprocess.run(args, cwd=repo, env=env(), capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout + result.stderr


def ran(output: str) -> set[str]:
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage '")}


def write_params(repo: Path, **overrides) -> None:
    p = tiny_params(**overrides)
    (repo / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))


def make_repo(repo: Path, **params) -> Path:
    """A git repo holding this checkout's tracked files, with tiny params and `params` on top."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                           text=True, check=True).stdout.split()  # fmt: skip
    for name in files:
        if (REPO / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, repo / name)
    write_params(repo, **params)
    run(repo, "git", "init", "-q", "-b", "main")
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-qm", "baseline")
    return repo


def cifar_params(cifar: Path, **overrides) -> dict:
    """Synthetic CIFAR-10 for dcgan and sagan, and its cats -> dogs for cyclegan."""
    return {"data.source": str(cifar), "data.verify": False, "fid.n_samples": 8, "fid.batch_size": 8,
            "cyclegan.domain_a": "cifar10:cat", "cyclegan.domain_b": "cifar10:dog", "cyclegan.source": str(cifar),
            **overrides}  # fmt: skip


def noise_stages(*seeds: int) -> set[str]:
    """The GAN chain's stages for these entries of `seeds` (default: the one run, seed 0)."""
    seeds = seeds or (0,)
    per_seed = {f"{stage}@{m}-{s}" for stage in ("train", "fid") for m in ("dcgan", "sagan") for s in seeds}
    per_run = {f"{stage}@{s}" for stage in ("select", "report", "render") for s in seeds}
    return {"prepare", "fid_reference", "summarize"} | per_seed | per_run


def cyclegan_stages(*seeds: int) -> set[str]:
    seeds = seeds or (0,)
    per_run = {f"{stage}_cyclegan@{s}" for stage in ("train", "fid", "select", "report", "render") for s in seeds}
    return {"prepare_cyclegan", "reference_cyclegan", "summarize_cyclegan"} | per_run


NOISE_STAGES, CYCLEGAN_STAGES = noise_stages(), cyclegan_stages()
