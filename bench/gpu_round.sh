#!/usr/bin/env bash
# One GPU round, one table: what ganlab does with a GPU, in at most about 8 minutes on one
# H100/H200. Run it first whenever a GPU is available, and paste its output into the time table
# (docs/performance.md).
#   1. training it/s of DCGAN, full-width cSAGAN and CycleGAN (params.yaml widths, batch 64,
#      32 px), eager, torch.compile and CUDA-graph (`graph: true`), each in fp32 and bf16;
#   2. Inception img/s (FID's network) against pytorch-fid's own path;
#   3. `dvc repro` shortened to 4% of every length, timed per stage, extrapolated to the default.
#
#   bash bench/gpu_round.sh          # on a GPU
#   bash bench/gpu_round.sh --toy    # anywhere, in about a minute on a CPU: the suite runs
#                                    # this, so the round keeps working while no GPU is at hand
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = --toy ]; then
  tiny=$(mktemp --suffix .yaml)
  python - "$tiny" <<'PY'
import sys, yaml
p = yaml.safe_load(open("params.yaml"))
for name in ("dcgan", "sagan", "cyclegan"):
    p[name].update(g_ch=16, d_ch=16)
yaml.safe_dump(p, open(sys.argv[1], "w"))
PY
  device=cpu; train="--params $tiny --iters 1 --warmup 1 --batch-size 8 --precisions fp32"
  fid="--n 16 --batch-size 8 --ours-only"
  repro="--scale 0.0002 --images 200 --stages prepare train@dcgan-0"
else
  device=cuda; train="--iters 50 --warmup 5 --batch-size 64 --compile --graph"; fid="--n 2000 --batch-size 500"
  repro="--scale 0.04 --images 12000"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
fi
echo "== 1. training speed"
python bench/train_speed.py --device $device --models dcgan sagan cyclegan $train
echo "== 2. FID's Inception"
python bench/fid_speed.py --device $device $fid
echo "== 3. shortened dvc repro"
python bench/pipeline_round.py --device $device $repro
