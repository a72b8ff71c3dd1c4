#!/usr/bin/env bash
# cSAGAN on the google emoji set (npm emoji-datasource-google 16.0.0) at 64 pixels,
# conditional on the 9 categories, without and with DiffAugment (color,translation,cutout).
# The set is small (3380 train / 401 test images), the case DiffAugment is for.
# Shared: width 128 (G 128 -> 16 channels over 4 blocks, D 8 -> 128 over 5), attention at 16 px
# (at 32 px it ran 4x slower on this CPU), bf16, torch.compile, the committed TTUR recipe. The
# two train side by side with one thread each. Training resumes exactly: re-running `train`
# continues both runs where they stopped.
# FID and KID of every checkpoint at 1024 generated vs the 3380 training images
# (fid.reference=train: the 401 test images are too few for a 2048-d covariance), pytorch-fid
# Inception. The best checkpoint of each run re-scored at 3380 generated (report.n_samples).
# Every step is a stage script of the pipeline, run on runs/emoji64/ (git-ignored); the two
# runs stand where the pipeline has dcgan and sagan.
#   nohup bash docs/studies/emoji.sh [prepare|train|reference|fid|report|render] > runs/emoji64.log 2>&1 &
#   EMOJI_TGZ=path/to/emoji-datasource-google-16.0.0.tgz (default: /work/emoji/...)
set -euo pipefail
part=${1:-train}
out=runs/emoji64
tgz=${EMOJI_TGZ:-/work/emoji/emoji-datasource-google-16.0.0.tgz}
shared="data.dataset=emoji data.source=$tgz data.resolution=64 sagan.iterations=50000 sagan.g_ch=128
  sagan.d_ch=128 sagan.attention_res=16 sagan.precision=bf16 sagan.compile=true fid.n_samples=1024
  fid.reference=train report.n_samples=3380"
python docs/studies/variant.py $out/plain.yaml $shared
python docs/studies/variant.py $out/diffaug.yaml $shared sagan.diffaug=color,translation,cutout
runs="plain diffaug"
if [ "$part" = prepare ]; then
  python stages/prepare.py --params $out/plain.yaml --train $out/data/train --test $out/data/test \
    --bad-files $out/data/bad_files.txt
fi
if [ "$part" = train ]; then
  for run in $runs; do
    OMP_NUM_THREADS=1 python stages/train.py --params $out/$run.yaml --model sagan \
      --data $out/data/train --out $out/$run --live $out/$run/live >> $out/$run.log 2>&1 &
  done
  wait
fi
fid=$out/data/fid
if [ "$part" = reference ]; then
  python stages/fid_reference.py --params $out/plain.yaml --test $out/data/test --train $out/data/train \
    --stats $fid/stats.npz --reference-features $fid/reference_features.npz --floor-features $fid/floor_features.npz
fi
if [ "$part" = fid ]; then
  for run in $runs; do
    python stages/fid.py --params $out/$run.yaml --checkpoints $out/$run/checkpoints --reference $fid/stats.npz \
      --reference-features $fid/reference_features.npz --out $out/$run/fid.csv --cache $out/$run/fid_cache.json
  done
fi
if [ "$part" = report ]; then
  python stages/select_best.py --params $out/plain.yaml --reference $fid/stats.npz --out $out/best.json \
    --best-dir $out/best $(for run in $runs; do echo --input $run $out/$run/fid.csv $out/$run/checkpoints; done)
  python stages/report.py --params $out/plain.yaml --best-json $out/best.json --reference $fid/stats.npz \
    --reference-features $fid/reference_features.npz --floor-features $fid/floor_features.npz \
    --out $out/report.json $(for run in $runs; do echo --best $run $out/best/$run.pt; done)
fi
if [ "$part" = render ]; then
  python stages/render.py --params $out/plain.yaml --reference $fid/stats.npz \
    --reference-features $fid/reference_features.npz --floor-features $fid/floor_features.npz \
    --class-grids $runs --out $out/plots $(for run in $runs; do echo --best $run $out/best/$run.pt \
      --fid $run $out/$run/fid.csv --live $run $out/$run/live --checkpoints $run $out/$run/checkpoints; done)
fi
