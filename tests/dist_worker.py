"""A training run in float64, as one process or as a torchrun worker (tests/test_distributed.py).

    python tests/dist_worker.py PARAMS MODEL DATA OUT
    python -m torch.distributed.run --standalone --nproc-per-node 2 tests/dist_worker.py PARAMS MODEL DATA OUT

DATA: the prepared training split, or the translation's two, comma-separated.
"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ganlab.config import load_params  # noqa: E402
from ganlab.training.loop import train  # noqa: E402

if __name__ == "__main__":
    params_path, model, data, out = sys.argv[1:]
    torch.set_default_dtype(torch.float64)
    params = load_params(params_path)
    train(model, params.model(model), seed=params.seeds[0], device="cpu", data_paths=data.split(","),
          out_dir=f"{out}/models", live_dir=f"{out}/live", progress=False)  # fmt: skip
