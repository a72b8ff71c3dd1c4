#!/usr/bin/env bash
# Issue 8's quality check: DCGAN (committed defaults) on real Fashion-MNIST for 3000 iterations
# in fp32 (seeds 0 and 1) and bf16 (seed 0), every checkpoint scored with the same FID settings.
# Outputs go to runs/precision/ (git-ignored). Run from the repository root:
#   nohup bash docs/studies/precision.sh > runs/precision.log 2>&1 &
# `bash docs/studies/precision.sh train` or `... fid` runs one half.
set -euo pipefail
part=${1:-all}
out=runs/precision
data=runs/fashion_mnist
mkdir -p "$out"
python - <<'PY'
import yaml
base = yaml.safe_load(open("params.yaml"))
base["device"] = "cpu"
base["data"].update(dataset="fashion_mnist", source="/usr/share/datasets/fashion-mnist")
base["dcgan"].update(iterations=3000, ckpt_every=1000)
base["fid"].update(n_samples=2048)
for name, seed, precision in (("fp32_s0", 0, "fp32"), ("fp32_s1", 1, "fp32"), ("bf16_s0", 0, "bf16")):
    p = dict(base, seed=seed, dcgan=dict(base["dcgan"], precision=precision))
    yaml.safe_dump(p, open(f"runs/precision/{name}.yaml", "w"), sort_keys=False)
PY
[ -f $data/test.pt ] || python stages/prepare.py --params $out/fp32_s0.yaml --train $data/train.pt --test $data/test.pt
[ "$part" = fid ] || for run in fp32_s0 bf16_s0 fp32_s1; do
  python stages/train.py --params $out/$run.yaml --model dcgan \
    --data $data/train.pt --out $out/$run --log $out/$run/train_log.csv
done
[ "$part" = train ] && exit 0
[ -f $data/test_stats.npz ] || python stages/fid_reference.py --params $out/fp32_s0.yaml --test $data/test.pt \
  --train $data/train.pt --stats $data/test_stats.npz --test-features $data/test_features.npz \
  --train-features $data/train_features.npz
for run in fp32_s0 bf16_s0 fp32_s1; do
  # The same FID seed (0) for every run, whatever its training seed; the final checkpoint only.
  sed 's/^seed: 1$/seed: 0/' $out/$run.yaml > $out/$run.fid.yaml
  mkdir -p $out/$run/final && ln -f $out/$run/checkpoints/iter_003000.pt $out/$run/final/
  python stages/fid.py --params $out/$run.fid.yaml --checkpoints $out/$run/final \
    --reference $data/test_stats.npz --out $out/$run/fid.csv --cache $out/$run/fid_cache.json
done
