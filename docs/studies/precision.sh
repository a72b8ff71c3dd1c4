#!/usr/bin/env bash
# Does bf16 cost quality? DCGAN (committed defaults) on real Fashion-MNIST for 3000 iterations
# in fp32 and bf16, seeds 0 and 1 each. The final checkpoint of each is scored with the same
# FID settings: 2048 generated (latent seed 0) vs the 10k test images.
# Outputs go to runs/precision/ (git-ignored); it also prepares runs/fashion_mnist/ (the data and
# its FID reference), which docs/studies/sagan_loss.sh reuses. Run from the repository root:
#   nohup bash docs/studies/precision.sh [train|fid|all] > runs/precision.log 2>&1 &
set -euo pipefail
part=${1:-all}
out=runs/precision
data=runs/fashion_mnist
common="dcgan.iterations=3000 dcgan.ckpt_every=1000 fid.n_samples=2048"
python docs/studies/variant.py $out/fp32_s0.yaml $common 'seeds=[0]' dcgan.precision=fp32
python docs/studies/variant.py $out/fp32_s1.yaml $common 'seeds=[1]' dcgan.precision=fp32
python docs/studies/variant.py $out/bf16_s0.yaml $common 'seeds=[0]' dcgan.precision=bf16
python docs/studies/variant.py $out/bf16_s1.yaml $common 'seeds=[1]' dcgan.precision=bf16
runs="fp32_s0 bf16_s0 fp32_s1 bf16_s1"
[ -f $data/test.pt ] || python stages/prepare.py --params $out/fp32_s0.yaml --train $data/train.pt --test $data/test.pt
[ "$part" = fid ] || for run in $runs; do
  python stages/train.py --params $out/$run.yaml --model dcgan \
    --data $data/train.pt --out $out/$run --live $out/$run/live
done
[ "$part" = train ] && exit 0
[ -f $data/test_stats.npz ] || python stages/fid_reference.py --params $out/fp32_s0.yaml --test $data/test.pt \
  --train $data/train.pt --stats $data/test_stats.npz --test-features $data/test_features.npz \
  --train-features $data/train_features.npz
for run in $runs; do
  # The same FID seed (0) for every run, whatever its training seed; the final checkpoint only.
  python docs/studies/variant.py $out/$run.fid.yaml $common 'seeds=[0]'
  mkdir -p $out/$run/final && ln -f $out/$run/checkpoints/iter_003000.pt $out/$run/final/
  python stages/fid.py --params $out/$run.fid.yaml --checkpoints $out/$run/final \
    --reference $data/test_stats.npz --out $out/$run/fid.csv --cache $out/$run/fid_cache.json
done
