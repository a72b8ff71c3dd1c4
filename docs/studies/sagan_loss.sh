#!/usr/bin/env bash
# cSAGAN on real Fashion-MNIST with the hinge loss and with the Wasserstein loss (seed
# assignment 000), with and without a gradient penalty. Otherwise the committed defaults at a
# CPU-sized width (32), bf16, 1500 iterations, and without the EMA generator: its default horizon
# (0.9999, about 10k iterations) is far longer than these runs, so an EMA snapshot would mostly
# hold the weights of iteration ema_start. FID at 2048 generated vs the 10k test images.
# Outputs go to runs/sagan_loss/ (git-ignored). Needs runs/fashion_mnist/ from docs/studies/precision.sh.
#   nohup bash docs/studies/sagan_loss.sh [train|fid|all] > runs/sagan_loss.log 2>&1 &
set -euo pipefail
part=${1:-all}
out=runs/sagan_loss
data=runs/fashion_mnist
common="sagan.iterations=1500 sagan.ckpt_every=500 sagan.log_every=50 sagan.g_ch=32 sagan.d_ch=32
  sagan.precision=bf16 sagan.ema=0.0 fid.n_samples=2048"
python docs/studies/variant.py $out/hinge.yaml $common sagan.loss=hinge
python docs/studies/variant.py $out/wasserstein.yaml $common sagan.loss=wasserstein
python docs/studies/variant.py $out/wasserstein_gp.yaml $common sagan.loss=wasserstein sagan.gp_weight=10.0
runs="hinge wasserstein wasserstein_gp"
[ "$part" = fid ] || for run in $runs; do
  python stages/train.py --params $out/$run.yaml --model sagan \
    --data $data/train.pt --out $out/$run --live $out/$run/live
done
[ "$part" = train ] && exit 0
for run in $runs; do
  python stages/fid.py --params $out/$run.yaml --checkpoints $out/$run/checkpoints \
    --reference $data/test_stats.npz --out $out/$run/fid.csv --cache $out/$run/fid_cache.json
done
# The three FID curves on one plot, with the real-data floor at the same n (2048).
python - <<'PY'
from pathlib import Path

from ganlab.metrics.fid import FrechetReference, load_statistics, reference_size
from ganlab.metrics.reference import floor_fid, load_features
from ganlab.viz.render import fid_figure, save_figure

out, data = Path("runs/sagan_loss"), Path("runs/fashion_mnist")
stats = load_statistics(data / "test_stats.npz")
floor, _ = floor_fid(load_features(data / "train_features.npz")[0], FrechetReference(stats["mu"], stats["sigma"]), n=2048)
curves = {"hinge": "hinge", "wasserstein": "wasserstein", "wasserstein + GP 10": "wasserstein_gp"}
save_figure(
    fid_figure({label: out / run / "fid.csv" for label, run in curves.items()}, reference_size=reference_size(stats, data / "test_stats.npz"), floor=floor),
    out / "fid.png",
)
print(f"floor at 2048: {floor:.2f}; wrote {out / 'fid.png'}")
PY
