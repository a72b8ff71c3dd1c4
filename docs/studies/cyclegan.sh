#!/usr/bin/env bash
# CycleGAN between the google and twitter emoji sets (npm emoji-datasource-* 16.0.0)
# at 32 pixels (64 ran at 0.6 it/s with one thread on an Intel Xeon; 32 at 1.4), the CSC413 studies:
#   l10s0  lambda_cycle 10, seed 0      l10s1  lambda_cycle 10, seed 1      l0s0  lambda_cycle 0, seed 0
# Shared: translator width 32 with 3 residual blocks, patch D width 64, lsgan, Adam 2e-4 (0.5,
# 0.999), batch 16, fp32, 1000 iterations, a checkpoint every 250; none of the reference's
# details (no identity term, pool, jitter or flip; ganlab's 1/2 in the lsgan G term); those are
# in cyclegan_reference.sh. The three train side by side
# with one thread each on the 2 cores; training resumes exactly, so re-running `train` continues.
# Every checkpoint is scored on all 401 test emojis of each domain (FID and KID vs the other
# domain's 401 test images, pytorch-fid Inception, and the paired error against the true twin).
# Every step is a stage script of the pipeline, run on runs/cycle1000/ (git-ignored).
#   nohup bash docs/studies/cyclegan.sh [prepare|train|reference|fid|report|render] > runs/cycle1000.log 2>&1 &
#   EMOJI_DIR=folder holding emoji-datasource-{google,twitter}-16.0.0.tgz (default: download)
set -euo pipefail
part=${1:-train}
out=runs/cycle1000
shared="cyclegan.source=${EMOJI_DIR:-download} cyclegan.resolution=32 cyclegan.iterations=1000
  cyclegan.ckpt_every=250 cyclegan.g_ch=32 cyclegan.n_res_blocks=3 fid.n_samples=401
  cyclegan.lambda_identity=0 cyclegan.lambda_adversarial=1 cyclegan.pool_size=0 cyclegan.jitter=1 cyclegan.flip=false"
python docs/studies/variant.py $out/l10s0.yaml $shared
python docs/studies/variant.py $out/l10s1.yaml $shared seed=1 report.seed=2
python docs/studies/variant.py $out/l0s0.yaml $shared cyclegan.lambda_cycle=0
runs="l10s0 l10s1 l0s0"
data=$out/data
if [ "$part" = prepare ]; then
  python stages/prepare_cyclegan.py --params $out/l10s0.yaml --a-train $data/a/train --a-test $data/a/test \
    --b-train $data/b/train --b-test $data/b/test --bad-files $data/bad_files.txt
fi
if [ "$part" = train ]; then
  for run in $runs; do
    OMP_NUM_THREADS=1 python stages/train.py --params $out/$run.yaml --model cyclegan \
      --data $data/a/train --data $data/b/train --out $out/$run --live $out/$run/live >> $out/$run.log 2>&1 &
  done
  wait
fi
fid=$data/fid
tests="--a-test $data/a/test --b-test $data/b/test"
refs="--a-reference $fid/a.npz --b-reference $fid/b.npz"
if [ "$part" = reference ]; then
  python stages/reference_cyclegan.py --params $out/l10s0.yaml --a-train $data/a/train --b-train $data/b/train \
    $tests --a-out $fid/a.npz --b-out $fid/b.npz
fi
for run in $runs; do
  r=$out/$run
  if [ "$part" = fid ]; then
    python stages/fid_cyclegan.py --params $r.yaml --checkpoints $r/checkpoints $tests $refs \
      --out $r/fid.csv --cache $r/fid_cache.json
  fi
  if [ "$part" = report ]; then
    python stages/select_cyclegan.py --params $r.yaml --fid $r/fid.csv --checkpoints $r/checkpoints $tests $refs \
      --out $r/best.json --best $r/best.pt
    python stages/report_cyclegan.py --params $r.yaml --best $r/best.pt --best-json $r/best.json \
      --a-train $data/a/train --b-train $data/b/train $tests $refs --out $r/report.json
  fi
  if [ "$part" = render ]; then
    python stages/render_cyclegan.py --params $r.yaml --best $r/best.pt --checkpoints $r/checkpoints \
      --fid $r/fid.csv --live $r/live --report $r/report.json $tests --a2b $r/plots/a2b.png \
      --b2a $r/plots/b2a.png --progress $r/plots/progress.png --curves $r/plots/curves.png --loss $r/plots/loss.png
  fi
done
