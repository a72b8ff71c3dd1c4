"""Is cSAGAN's variety within a class narrower than DCGAN's at equal iterations?

    python docs/studies/variety.py --out runs/csagan --runs dcgan long_bf16_s0 [--start 10000] [--stop N] [--every 1000] [--redo]
    python docs/studies/variety.py --out runs/csagan --runs dcgan --grid 16000   (OUT/grids/dcgan_16000_probe.png)
    python docs/studies/variety.py --out runs/csagan --runs long_bf16_s0 --raw   (its last.pt's raw G, as long_bf16_s0_raw)
    python docs/studies/variety.py --out runs/csagan --runs peer_mimicry_s1 --mimicry DIR   (a Mimicry run: csagan.py's checkout)

The curve's per-class spread needs a class for every generated image. cSAGAN's come from its
conditioning labels, but DCGAN is unconditional, so this script gives both models' images a class
the same way: a linear probe (multinomial logistic regression) on the pytorch-fid Inception
features of the 10k test images, its L2 weight chosen by 5-fold cross-validation. Per class it
reports the spread, Tr Σ_generated / Tr Σ_test of that class (`ganlab.metrics.report.spread`), and
the share of the images that the probe puts in it. A conditional run's row also has the curve's
intra-FID (by its conditioning labels), from the same features.

The probe is wrong on some real images too, which mixes neighbouring classes (shirt, T-shirt,
pullover, coat) and raises a class's spread. So the same probe labels 2048 real training images,
and that row ("real train") is what a generator as varied as the data reads. For cSAGAN the row
also gives the spread by its own labels (the curve's) and how often the probe agrees with them.

Whether the amount of variety is what FID charges for is asked directly: each row also has FID's
mean term, FID with every class stretched or shrunk to spread 1 (`at_real_spread`), and improved
precision and recall at k = 3 and 10, and the pipeline's four at its k (ganlab.metrics.prdc).

Images and features follow the curve's protocol in `csagan.py score` exactly (2048 generated,
class-balanced, latent seed 0, batches of 256), so `fid` here equals the curve's. One row per
checkpoint goes to OUT/variety.json as it is done; a rerun skips the rows already there.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from mimicry_peer import register_mimicry  # beside this script in docs/studies/

from ganlab.data.prepared import load_split
from ganlab.viz.grids import grid_image
from ganlab.io import atomic_torch_save, atomic_write_text, load_checkpoint
from ganlab.metrics.fid import FrechetReference, InceptionFeatures, load_statistics
from ganlab.metrics.prdc import PRDC_K, prdc
from ganlab.metrics.reference import load_features
from ganlab.metrics.report import MIN_CLASS_IMAGES, ClassReferences, spread
from ganlab.sampling import balanced_labels, generate, generate_batches
from ganlab.training.checkpoints import list_snapshots, load_generator, snapshot_iteration, snapshot_path

N, SEED, BATCH = 2048, 0, 256  # the curve's protocol (csagan.py score)
FOLDS = 5
L2_WEIGHTS = (1e-3, 1e-2, 1e-1, 1.0)  # 1e-4 read 0.864, below 1e-3's 0.869
REAL = "real train"
# k = 3 is Kynkäänniemi et al.'s; a larger k widens every ball, so a recall that stays low at 10
# is not k's doing.
PR_KS = (3, PRDC_K, 10)


class Probe:
    """Multinomial logistic regression on standardised features."""

    def __init__(self, *, mean: torch.Tensor, std: torch.Tensor, linear: torch.nn.Linear) -> None:
        self.mean, self.std, self.linear = mean, std, linear

    @classmethod
    def fit(cls, features: np.ndarray, labels: np.ndarray, *, num_classes: int, l2: float) -> Probe:
        """Full-batch L-BFGS on the mean cross-entropy plus l2 · ‖W‖²."""
        x = torch.from_numpy(features).double()
        mean, std = x.mean(0), x.std(0) + 1e-6
        x = (x - mean) / std
        y = torch.from_numpy(labels).long()
        linear = torch.nn.Linear(x.shape[1], num_classes).double()
        opt = torch.optim.LBFGS(linear.parameters(), max_iter=500, history_size=20, line_search_fn="strong_wolfe")

        def loss() -> torch.Tensor:
            opt.zero_grad()
            value = torch.nn.functional.cross_entropy(linear(x), y) + l2 * linear.weight.square().sum()
            value.backward()
            return value

        opt.step(loss)
        return cls(mean=mean, std=std, linear=linear)

    @torch.no_grad()
    def __call__(self, features: np.ndarray) -> np.ndarray:
        x = (torch.from_numpy(features).double() - self.mean) / self.std
        return self.linear(x).argmax(1).numpy()

    def state_dict(self) -> dict:
        return {"mean": self.mean, "std": self.std, "linear": self.linear.state_dict()}

    @classmethod
    def from_state_dict(cls, state: dict) -> Probe:
        weight = state["linear"]["weight"]
        linear = torch.nn.Linear(weight.shape[1], weight.shape[0]).double()
        linear.load_state_dict(state["linear"])
        return cls(mean=state["mean"], std=state["std"], linear=linear)


def fit_probe(features: np.ndarray, labels: np.ndarray, num_classes: int) -> tuple[Probe, dict]:
    """The probe at the L2 weight with the best 5-fold accuracy, refitted on every image."""
    folds = np.random.default_rng(0).permutation(len(labels)) % FOLDS
    accuracy = {}
    for l2 in L2_WEIGHTS:
        hits = 0
        for k in range(FOLDS):
            probe = Probe.fit(features[folds != k], labels[folds != k], num_classes=num_classes, l2=l2)
            hits += int((probe(features[folds == k]) == labels[folds == k]).sum())
        accuracy[l2] = hits / len(labels)
        print(f"probe: l2 {l2:g}, {FOLDS}-fold accuracy {accuracy[l2]:.4f}", flush=True)
    best = max(accuracy, key=accuracy.get)
    info = {
        "l2": best,
        "cv_accuracy": accuracy[best],
        "cv_accuracy_by_l2": {f"{l2:g}": a for l2, a in accuracy.items()},
        "folds": FOLDS,
        "fitted_on": f"{len(labels)} test images",
    }
    return Probe.fit(features, labels, num_classes=num_classes, l2=best), info


def by_class(features: np.ndarray, labels: np.ndarray, refs: ClassReferences) -> tuple[dict, dict]:
    """Each class's share of the images and its spread (None below MIN_CLASS_IMAGES images)."""
    share, spreads = {}, {}
    for c, name in enumerate(refs.classes):
        mine = features[labels == c]
        share[name] = len(mine) / len(labels)
        spreads[name] = spread(mine, refs.references[c]) if len(mine) >= MIN_CLASS_IMAGES else None
    return share, spreads


def at_real_spread(features: np.ndarray, labels: np.ndarray, spreads: dict, refs: ClassReferences) -> np.ndarray:
    """Each class's images moved along their own offsets from the class mean until the class's
    spread is 1: the same class means and directions, with the real images' amount of variety."""
    out = features.astype(np.float64)
    for c, name in enumerate(refs.classes):
        if spreads[name] is not None:
            mine = labels == c
            centre = out[mine].mean(0)
            out[mine] = centre + (out[mine] - centre) / np.sqrt(spreads[name])
    return out


def row(
    features: np.ndarray,
    probe_labels: np.ndarray,
    refs: ClassReferences,
    reference: FrechetReference,
    real: np.ndarray,
) -> dict:
    """FID splits into the means' distance and the covariances' term. FID at class spread 1
    asks how much of FID the amount of variety within each class costs, by removing it.
    Precision and recall are against `real`: N test images, the same for every row."""
    share, spreads = by_class(features, probe_labels, refs)
    measured = [s for s in spreads.values() if s is not None]
    mean_gap = features.mean(0, dtype=np.float64) - reference.mu
    pr = {k: prdc(features, real, k=k) for k in PR_KS}
    return {
        "precision": pr[3]["precision"],
        "recall": pr[3]["recall"],
        "precision_k10": pr[10]["precision"],
        "recall_k10": pr[10]["recall"],
        # the pipeline's k (ganlab.metrics.prdc.PRDC_K), with density and coverage
        **{f"{name}_k{PRDC_K}": value for name, value in pr[PRDC_K].items()},
        "fid": reference.distance_to(features),
        "fid_mean_term": float(mean_gap @ mean_gap),
        "fid_at_class_spread_1": reference.distance_to(at_real_spread(features, probe_labels, spreads, refs)),
        "spread": spread(features, reference),
        "probe_spread_mean": float(np.mean(measured)),
        "probe_spread": spreads,
        "probe_share": share,
    }


def probe_grid(generator: torch.nn.Module, probe: Probe, inception: InceptionFeatures, *, classes: int) -> torch.Tensor:
    """A column per class, as in cSAGAN's class grids: of 1000 samples (latent seed 0), the first
    ten that the probe puts in each class, black where it put fewer."""
    images = generate(generator, n=1000, batch_size=BATCH, seed=SEED, device=torch.device("cpu"))
    guessed = torch.from_numpy(probe(inception(images)))
    cells = torch.zeros(10, classes, *images.shape[1:], dtype=torch.uint8)
    for c in range(classes):
        mine = images[guessed == c][:10]
        cells[: len(mine), c] = mine
    return cells.flatten(0, 1)


def raw_snapshot(out: Path, run: str) -> str:
    """Write run `RUN_raw`: the raw G of RUN's `last.pt` as a snapshot at that iteration, beside
    the EMA snapshot of the same iteration (whose metadata it takes). It keeps G's own running
    statistics, as a run with `ema: 0` would save it. Returns the new run's name."""
    state = load_checkpoint(out / "runs" / run / "last.pt")
    ema = load_checkpoint(snapshot_path(out / "runs" / run / "checkpoints", state["iteration"]))
    name = f"{run}_raw"
    atomic_torch_save(
        {**ema, "generator": state["generator"]}, snapshot_path(out / "runs" / name / "checkpoints", state["iteration"])
    )
    return name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="the study folder (csagan.py --out)")
    parser.add_argument("--runs", nargs="+", required=True)
    parser.add_argument("--start", type=int, default=0, help="first iteration to measure")
    parser.add_argument("--stop", type=int, help="last iteration to measure (default: the run's last)")
    parser.add_argument("--every", type=int, default=1000)
    parser.add_argument("--redo", action="store_true", help="measure again the rows without recall at k=10")
    parser.add_argument("--grid", type=int, help="instead: each run's probe-sorted class grid at this iteration")
    parser.add_argument("--raw", action="store_true", help="measure the raw G of each run's last.pt (as RUN_raw)")
    parser.add_argument("--mimicry", help="a Mimicry checkout, for the peer runs' checkpoints (csagan.py --mimicry)")
    args = parser.parse_args()
    register_mimicry(args.mimicry)
    out = Path(args.out)
    device = torch.device("cpu")

    test = load_split(out / "data" / "test.pt")
    features, labels = load_features(out / "data" / "test_features.npz")
    refs = ClassReferences(features, labels, test.classes)
    stats = load_statistics(out / "data" / "test_stats.npz")
    reference = FrechetReference(stats["mu"], stats["sigma"])
    pr_real = features[np.random.default_rng(SEED).choice(len(features), N, replace=False)]
    # The probe's fit (21 L-BFGS fits of 2048 × 10 weights) takes minutes of a core, and rows
    # measured with two probes would not compare, so a rerun loads the first one.
    probe_path = out / "variety_probe.pt"
    if probe_path.exists():
        state = torch.load(probe_path, weights_only=True)
        probe, probe_info = Probe.from_state_dict(state), state["info"]
    else:
        probe, probe_info = fit_probe(features, labels, len(test.classes))
        atomic_torch_save({**probe.state_dict(), "info": probe_info}, probe_path)

    if args.raw:  # the EMA never feeds back into training: is a shortfall the average's or G's own?
        args.runs = [raw_snapshot(out, run) for run in args.runs]
    if args.grid is not None:
        (out / "grids").mkdir(exist_ok=True)
        inception = InceptionFeatures(device=device)
        for run in args.runs:
            generator, _ = load_generator(snapshot_path(out / "runs" / run / "checkpoints", args.grid), device)
            grid = probe_grid(generator, probe, inception, classes=len(test.classes))
            grid_image(grid, nrow=len(test.classes)).save(out / "grids" / f"{run}_{args.grid}_probe.png")
        return

    path = out / "variety.json"

    def load() -> dict:
        return json.loads(path.read_text()) if path.exists() else {"probe": probe_info, "rows": []}

    # --redo measures again the rows that predate a field of `row`, which the others keep.
    have = {(r["run"], r["iteration"]) for r in load()["rows"] if not args.redo or "recall_k10" in r}
    inception = InceptionFeatures(device=device)

    def save(entry: dict) -> None:
        # Read again just before writing: another call (another --runs) may have added rows.
        done = load()
        done["rows"] = [r for r in done["rows"] if (r["run"], r["iteration"]) != (entry["run"], entry["iteration"])]
        done["rows"].append(entry)
        atomic_write_text(json.dumps(done, indent=1) + "\n", path)
        print(json.dumps({k: v for k, v in entry.items() if not isinstance(v, dict)}), flush=True)

    if (REAL, 0) not in have:
        train = load_split(out / "data" / "train.pt")
        pick = torch.from_numpy(np.random.default_rng(SEED).choice(len(train.labels), N, replace=False))
        real, truth = inception.of_images(train.images[pick], batch_size=BATCH), train.labels[pick].numpy()
        guessed = probe(real)
        entry = {"run": REAL, "iteration": 0, **row(real, guessed, refs, reference, pr_real)}
        entry["label_spread"] = by_class(real, truth, refs)[1]
        entry["probe_agreement"] = float(np.mean(guessed == truth))
        save(entry)

    for run in args.runs:
        for checkpoint in list_snapshots(out / "runs" / run / "checkpoints"):
            iteration = snapshot_iteration(checkpoint)
            outside = iteration < args.start or args.stop is not None and iteration > args.stop
            if outside or iteration % args.every or (run, iteration) in have:
                continue
            generator, _ = load_generator(checkpoint, device)
            cond = balanced_labels(N, generator.num_classes, device=device)
            batches = generate_batches(generator, n=N, batch_size=BATCH, seed=SEED, device=device, labels=cond)
            gen = inception.of_batches(batches)
            guessed = probe(gen)
            entry = {"run": run, "iteration": iteration, **row(gen, guessed, refs, reference, pr_real)}
            if cond is not None:
                entry["probe_agreement"] = float(np.mean(guessed == cond.numpy()))
                # The curve's intra-FID from the same features, so a run needs no `csagan.py score`.
                entry["per_class_fid"], entry["label_spread"] = refs.scores(gen, cond.numpy())
                entry["intra_fid"] = float(np.mean(list(entry["per_class_fid"].values())))
            save(entry)


if __name__ == "__main__":
    main()
