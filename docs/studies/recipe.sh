#!/usr/bin/env bash
# Which cSAGAN recipe trains the better model on this CPU in the same wall-clock time?
#   ttur:  the committed defaults: n_dis 1, lr 1e-4 (G) / 4e-4 (D), betas (0, 0.9), EMA 0.999.
#          5000 iterations: this is also the equal-time run's cSAGAN (docs/studies/equal_time.md).
#   sngan: the SNGAN / projection-discriminator official config: n_dis 5, lr 2e-4 for both,
#          betas (0, 0.9), lr decaying linearly to 0 at `iterations`, no EMA.
#          2000 iterations: what fits in ttur's time, as the decay must end when the time does
#          (compiled bf16, one thread: 1.95 it/s for ttur, 0.72 it/s for sngan).
# Shared: real Fashion-MNIST, width 64, bf16, torch.compile. The two run side by side, one
# thread each, so each has one of the 2 cores. FID of every checkpoint at 2048 generated vs the 10k
# test images (pytorch-fid Inception), plotted against training minutes with the real-data floor;
# ttur's final raw generator (last.pt) is also scored, to weigh the EMA.
# Outputs go to runs/recipe/ (git-ignored). Needs runs/fashion_mnist/ from docs/studies/precision.sh.
#   nohup bash docs/studies/recipe.sh [train|fid|plot|all] > runs/recipe.log 2>&1 &
set -euo pipefail
part=${1:-all}
out=runs/recipe
data=runs/fashion_mnist
results="dcgan.iterations=10000 sagan.iterations=5000 sagan.g_ch=64 sagan.d_ch=64 sagan.precision=bf16
  sagan.compile=true fid.n_samples=2048"
python docs/studies/variant.py $out/ttur.yaml $results
python docs/studies/variant.py $out/sngan.yaml $results sagan.n_dis=5 sagan.lr_g=2.0e-4 sagan.lr_d=2.0e-4 \
  sagan.lr_decay=linear sagan.iterations=2000 sagan.ckpt_every=500 sagan.ema=0.0
runs="ttur sngan"
if [ "$part" = train ] || [ "$part" = all ]; then
  for run in $runs; do
    OMP_NUM_THREADS=1 python stages/train.py --params $out/$run.yaml --model sagan \
      --data $data/train.pt --out $out/$run --live $out/$run/live > $out/$run.log 2>&1 &
  done
  wait
fi
if [ "$part" = fid ] || [ "$part" = all ]; then
  for run in $runs; do
    python stages/fid.py --params $out/$run.yaml --checkpoints $out/$run/checkpoints \
      --reference $data/test_stats.npz --out $out/$run/fid.csv --cache $out/$run/fid_cache.json
  done
fi
[ "$part" = train ] || [ "$part" = fid ] && exit 0
python - <<'PY'
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from ganlab.io import load_checkpoint
from ganlab.metrics.fid import FrechetReference, InceptionFeatures, load_statistics, statistics
from ganlab.metrics.reference import floor_fid, load_features
from ganlab.metrics.select import read_fid_csv
from ganlab.viz.render import save_figure
from ganlab.sampling import generate_batches
from ganlab.training.checkpoints import list_snapshots, load_generator
from ganlab.training.live import read_history

out, data = Path("runs/recipe"), Path("runs/fashion_mnist")
stats = load_statistics(data / "test_stats.npz")
reference = FrechetReference(stats["mu"], stats["sigma"])
floor, _ = floor_fid(load_features(data / "train_features.npz")[0], reference, n=2048)

# ttur's raw generator at its last iteration, beside the EMA snapshot of the same iteration.
generator, _ = load_generator(list_snapshots(out / "ttur" / "checkpoints")[-1])
generator.load_state_dict(load_checkpoint(out / "ttur" / "last.pt")["generator"])
features = InceptionFeatures(device=torch.device("cpu")).of_batches(
    generate_batches(generator.eval(), n=2048, batch_size=200, seed=0, device=torch.device("cpu"))
)
summary = {"floor_2048": floor, "ttur_raw_generator_fid_2048": reference.distance(*statistics(features))}

fig, ax = plt.subplots(figsize=(7, 4.2), dpi=100)
labels = {"ttur": "TTUR, n_dis 1, EMA (default)", "sngan": "SNGAN: n_dis 5, lr 2e-4, linear decay"}
for run, label in labels.items():
    minutes = {i: s / 60 for i, s in zip(*read_history(out / run / "live", "seconds"))}
    rows = read_fid_csv(out / run / "fid.csv")
    x, y = [minutes[r["iteration"]] for r in rows], [r["fid"] for r in rows]
    ax.plot(x, y, marker="o", label=label)
    for r, xi in zip(rows, x):
        ax.annotate(str(r["iteration"]), (xi, r["fid"]), textcoords="offset points", xytext=(4, 4), fontsize=7)
    summary[run] = [{"iteration": r["iteration"], "minutes": m, "fid": r["fid"]} for r, m in zip(rows, x)]
ax.axhline(floor, color="gray", linestyle="--", label=f"real training images: {floor:.1f}")
ax.set(
    xlabel="training minutes (one core each, side by side; labels: iteration)",
    ylabel="FID (lower is better)",
    title="cSAGAN recipes on Fashion-MNIST: FID, 2048 generated vs 10k test",
)
ax.set_ylim(bottom=0)
ax.grid(alpha=0.3)
ax.legend()
fig.tight_layout()
save_figure(fig, out / "fid_minutes.png")
(out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
print(json.dumps(summary, indent=2))
PY
