"""The GPU round's script at toy size on the CPU, so it still runs when a GPU session comes."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO


@pytest.mark.slow
def test_gpu_round_runs_at_toy_size_and_prints_its_tables():
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")  # this venv's python
    result = subprocess.run(["bash", "bench/gpu_round.sh", "--toy"], cwd=REPO, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    for model in ("dcgan", "sagan", "cyclegan"):  # a training-speed row per model
        assert any(line.split()[:1] == [model] and "fp32" in line for line in out.splitlines()), model
    assert "features  ours NHWC, chunks of 8" in out and "features  ours NCHW, chunks of 32" in out
    assert out.count("(chosen for this machine)") == 1
    table = out.split("\nstage ")[1].splitlines()[1:]
    rows = {line.split()[0]: line.split() for line in table if line.strip()}
    assert set(rows) == {"prepare", "train@dcgan-0", "total"}
    # the extrapolation factor of training: the default iterations over the toy's (scale 0.0002)
    iterations = yaml.safe_load((REPO / "params.yaml").read_text())["dcgan"]["iterations"]
    assert float(rows["train@dcgan-0"][2]) == pytest.approx(iterations / max(2, round(iterations * 0.0002)), rel=1e-3)
