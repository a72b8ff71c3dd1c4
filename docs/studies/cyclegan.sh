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
python docs/studies/variant.py $out/l10s1.yaml $shared 'seeds=[1]' report.seed=1
python docs/studies/variant.py $out/l0s0.yaml $shared cyclegan.lambda_cycle=0
runs="l10s0 l10s1 l0s0"
first=l10s0
source docs/studies/cyclegan_stages.sh
