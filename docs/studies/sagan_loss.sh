#!/usr/bin/env bash
# Issue 11: cSAGAN on real Fashion-MNIST with the hinge loss and with the Wasserstein loss (seed
# assignment 000), otherwise the committed defaults at a CPU-sized width (32), bf16, 1500 iterations,
# and without the EMA generator: its default horizon (0.9999, about 10k iterations) is far longer
# than these runs, so an EMA snapshot would mostly hold the weights of iteration ema_start.
# Outputs go to runs/sagan_loss/ (git-ignored). Needs runs/fashion_mnist/ from docs/studies/precision.sh.
#   nohup bash docs/studies/sagan_loss.sh [train|fid|all] > runs/sagan_loss.log 2>&1 &
set -euo pipefail
part=${1:-all}
out=runs/sagan_loss
data=runs/fashion_mnist
mkdir -p "$out"
python - <<'PY'
import yaml
base = yaml.safe_load(open("params.yaml"))
base["device"] = "cpu"
base["data"].update(dataset="fashion_mnist", source="/usr/share/datasets/fashion-mnist")
base["sagan"].update(iterations=1500, ckpt_every=500, log_every=50, g_ch=32, d_ch=32, precision="bf16", ema=0.0)
base["fid"].update(n_samples=2048)
for loss in ("hinge", "wasserstein"):
    p = dict(base, sagan=dict(base["sagan"], loss=loss))
    yaml.safe_dump(p, open(f"runs/sagan_loss/{loss}.yaml", "w"), sort_keys=False)
PY
[ "$part" = fid ] || for run in hinge wasserstein; do
  python stages/train.py --params $out/$run.yaml --model sagan \
    --data $data/train.pt --out $out/$run --log $out/$run/train_log.csv || echo "$run: training stopped"
done
[ "$part" = train ] && exit 0
for run in hinge wasserstein; do
  python stages/fid.py --params $out/$run.yaml --checkpoints $out/$run/checkpoints \
    --reference $data/test_stats.npz --out $out/$run/fid.csv --cache $out/$run/fid_cache.json
done
