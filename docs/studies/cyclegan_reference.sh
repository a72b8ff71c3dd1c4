#!/usr/bin/env bash
# CycleGAN google -> twitter emojis (npm emoji-datasource-* 16.0.0) at 32 px with the reference's
# details (ganlab's cyclegan defaults: pool of 50, jitter 286/256 and flip, identity 0.5 x lambda,
# lsgan without the 1/2) and its lr schedule (constant, then linearly to 0 over the second half):
#   ref_s0  seed 0    ref_s1  seed 1                     (the default details, lambda_cycle 10)
#   noidt   seed 0, lambda_identity 0                    nopool  seed 0, pool_size 0
# Shared: translator width 32 with 3 residual blocks, patch D width 64, batch 16, bf16, 20000
# iterations (about 95 epochs of the 3380 training emojis), a checkpoint every 1000.
# RUNS picks which train side by side, one thread each (default "ref_s0 ref_s1"); training
# resumes exactly, so re-running `train` continues. Every checkpoint is scored on all 401 test
# emojis of each domain (FID and KID vs the other domain's 401 test images, pytorch-fid Inception,
# and the paired MAE and PSNR against the true twin). Every step is a stage script of the
# pipeline, run on runs/cycle/ (git-ignored):
#   nohup bash docs/studies/cyclegan_reference.sh [prepare|train|reference|fid|report|render] > runs/cycle.log 2>&1 &
#   EMOJI_DIR=folder holding emoji-datasource-{google,twitter}-16.0.0.tgz (default: download)
set -euo pipefail
part=${1:-train}
out=runs/cycle
mkdir -p $out
shared="cyclegan.source=${EMOJI_DIR:-download} cyclegan.resolution=32 cyclegan.iterations=20000
  cyclegan.lr_decay=linear cyclegan.lr_decay_start=10000 cyclegan.ckpt_every=1000 cyclegan.g_ch=32 cyclegan.n_res_blocks=3
  cyclegan.precision=bf16 fid.n_samples=401"
python docs/studies/variant.py $out/ref_s0.yaml $shared
python docs/studies/variant.py $out/ref_s1.yaml $shared seed=1 report.seed=2
python docs/studies/variant.py $out/noidt.yaml $shared cyclegan.lambda_identity=0
python docs/studies/variant.py $out/nopool.yaml $shared cyclegan.pool_size=0
runs=${RUNS:-ref_s0 ref_s1}
data=$out/data
if [ "$part" = prepare ]; then
  python stages/prepare_cyclegan.py --params $out/ref_s0.yaml --a-train $data/a/train --a-test $data/a/test \
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
  python stages/reference_cyclegan.py --params $out/ref_s0.yaml --a-train $data/a/train --b-train $data/b/train \
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
