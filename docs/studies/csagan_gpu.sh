#!/usr/bin/env bash
# The cSAGAN study on one GPU (tried on an H200 with 16 cores, no network), in two calls a few seconds
# apart, because what may travel per call (64 MiB) holds the data or the Inception weights,
# not both:
#   start:  install the two pure-Python wheels, prepare Fashion-MNIST, and start every run of
#           docs/studies/csagan.py in the background until $TRAIN_SECONDS from now.
#   finish: rebuild pytorch-fid's weight file from the second half, compute the test-set
#           reference, wait for the runs to stop, score every checkpoint, re-score the best ones
#           at 10k, and pack the results (and the best generators) into $OUT.
# Knobs: TRAIN_SECONDS (start), RUNS (start: a subset of csagan.py's runs; default all 21),
# SET (start: key=value for every run, e.g. "sagan.iterations=5000"), SCORE_SECONDS and
# REPORT_SECONDS (finish). The first round (21 runs at once for 400 s) showed that one GPU
# time-sliced between 21 processes gives each only 2.5-5 it/s; 4 at once keep about 12 it/s each.
# Carried (git-ignored): .whl (pytorch-fid, torch-fidelity), runs/fm (Debian's Fashion-MNIST
# idx files), runs/mimicry (torch_mimicry's modules, nets/basemodel, nets/gan and nets/cgan_pd
# from kwotsin/mimicry a7fda06), and the gzipped weight file split in runs/wA and runs/wB.
set -uo pipefail
phase=$1
work=/tmp/csagan
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
case $phase in
start)
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 1
  mkdir -p /tmp/keep $work && cp runs/wA/* /tmp/keep/
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  python3 -c "import torch, torchvision; print('torch', torch.__version__, torchvision.__version__, torch.cuda.get_device_name())"
  python3 docs/studies/csagan.py prepare --out $work --fashion-mnist runs/fm --set ${SET:-} || exit 1
  until=$(( $(date +%s) + TRAIN_SECONDS ))
  echo "$until" > $work/until
  setsid nohup python3 docs/studies/csagan.py train --out $work --mimicry runs/mimicry --until "$until" ${RUNS:+--only $RUNS} \
    > $work/train.log 2>&1 < /dev/null &
  sleep "${WATCH_SECONDS:-45}"
  nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv
  uptime
  for f in $work/*.log; do echo "== $f"; tail -c 300 "$f"; echo; done
  ls $work/runs/*/checkpoints 2>/dev/null | head -40
  ;;
finish)
  [ -f /tmp/keep/part_aa ] || { echo "fresh machine: the start phase's runs are gone"; exit 3; }
  hub=$(python3 -c "import torch; print(torch.hub.get_dir())")/checkpoints
  mkdir -p "$hub"
  cat /tmp/keep/part_aa runs/wB/part_* | gunzip > "$hub/pt_inception-2015-12-05-6726825d.pth"
  sha256sum "$hub/pt_inception-2015-12-05-6726825d.pth"
  python3 docs/studies/csagan.py prepare --out $work --fashion-mnist runs/fm --reference
  while pgrep -f "csagan.py train " > /dev/null; do sleep 5; done
  tail -30 $work/train.log
  for f in $work/runs/*; do echo "$(basename $f) $(ls $f/checkpoints | tail -1)"; done
  timeout "${SCORE_SECONDS:-120}" python3 docs/studies/csagan.py score --out $work --workers 8 --mimicry runs/mimicry
  python3 docs/studies/csagan.py score --out $work --workers 0 --mimicry runs/mimicry  # merge what was scored
  timeout "${REPORT_SECONDS:-90}" python3 docs/studies/csagan.py report --out $work --mimicry runs/mimicry \
    --runs dcgan base_s0 base_s1 no_sn_embed_s0 per_class_s0 hier_z_s0 biggan_s0
  cd $work
  tar czf $OUT/results.tgz scores.json report.json grids params *.log 2>/dev/null
  python3 - <<'PY' > keep.txt
import json
from pathlib import Path
scores = json.loads(Path("scores.json").read_text())
for run, rows in scores.items():
    if run.endswith("_s0") or run == "dcgan":
        best = min(rows, key=lambda r: r["fid"])["iteration"]
        print(f"runs/{run}/checkpoints/iter_{best:06d}.pt")
PY
  tar cf - -T keep.txt | split -b 15M - $OUT/best.tar.
  ls -la $OUT
  ;;
esac
