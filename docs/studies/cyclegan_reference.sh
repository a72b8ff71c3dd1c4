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
python docs/studies/variant.py $out/ref_s1.yaml $shared 'seeds=[1]' report.seed=1
python docs/studies/variant.py $out/noidt.yaml $shared cyclegan.lambda_identity=0
python docs/studies/variant.py $out/nopool.yaml $shared cyclegan.pool_size=0
runs=${RUNS:-ref_s0 ref_s1}
first=ref_s0
source docs/studies/cyclegan_stages.sh
