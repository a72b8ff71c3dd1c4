"""Issue 20: is cSAGAN's variety within a class narrower than DCGAN's at equal iterations?

    python docs/studies/variety.py --out runs/csagan --runs dcgan long_bf16_s0 [--start 10000] [--every 1000]

The curve's per-class spread needs a class for every generated image. cSAGAN's come from its
conditioning labels, but DCGAN is unconditional, so this script gives both models' images a class
the same way: a linear probe (multinomial logistic regression) on the pytorch-fid Inception
features of the 10k test images, its L2 weight chosen by 5-fold cross-validation. Per class it
reports the spread, Tr Σ_generated / Tr Σ_test of that class (`ganlab.metrics.report.spread`), and
the share of the images that the probe puts in it.

The probe is wrong on some real images too, which mixes neighbouring classes (shirt, T-shirt,
pullover, coat) and raises a class's spread. So the same probe labels 2048 real training images,
and that row ("real train") is what a generator as varied as the data reads. For cSAGAN the row
also gives the spread by its own labels (the curve's) and how often the probe agrees with them.

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

from ganlab.data.prepared import load_split
from ganlab.io import atomic_torch_save, atomic_write_text
from ganlab.metrics.fid import FrechetReference, InceptionFeatures, load_statistics
from ganlab.metrics.reference import load_features
from ganlab.metrics.report import MIN_CLASS_IMAGES, ClassReferences, spread
from ganlab.sampling import balanced_labels, generate_batches
from ganlab.training.checkpoints import list_snapshots, load_generator

N, SEED, BATCH = 2048, 0, 256  # the curve's protocol (csagan.py score)
FOLDS = 5
L2_WEIGHTS = (1e-3, 1e-2, 1e-1, 1.0)  # 1e-4 read 0.864, below 1e-3's 0.869
REAL = "real train"


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


def row(features: np.ndarray, probe_labels: np.ndarray, refs: ClassReferences, reference: FrechetReference) -> dict:
    share, spreads = by_class(features, probe_labels, refs)
    measured = [s for s in spreads.values() if s is not None]
    return {
        "fid": reference.distance_to(features),
        "spread": spread(features, reference),
        "probe_spread_mean": float(np.mean(measured)),
        "probe_spread": spreads,
        "probe_share": share,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="the study folder (csagan.py --out)")
    parser.add_argument("--runs", nargs="+", required=True)
    parser.add_argument("--start", type=int, default=0, help="first iteration to measure")
    parser.add_argument("--every", type=int, default=1000)
    args = parser.parse_args()
    out = Path(args.out)
    device = torch.device("cpu")

    test = load_split(out / "data" / "test.pt")
    features, labels = load_features(out / "data" / "test_features.npz")
    refs = ClassReferences(features, labels, test.classes)
    stats = load_statistics(out / "data" / "test_stats.npz")
    reference = FrechetReference(stats["mu"], stats["sigma"])
    path = out / "variety.json"
    # The probe's fit (21 L-BFGS fits of 2048 × 10 weights) takes minutes of a core, and rows
    # measured with two probes would not compare, so a rerun loads the first one.
    probe_path = out / "variety_probe.pt"
    if probe_path.exists():
        state = torch.load(probe_path, weights_only=True)
        probe, probe_info = Probe.from_state_dict(state), state["info"]
    else:
        probe, probe_info = fit_probe(features, labels, len(test.classes))
        atomic_torch_save({**probe.state_dict(), "info": probe_info}, probe_path)
    done = json.loads(path.read_text()) if path.exists() else {"probe": probe_info, "rows": []}
    inception = InceptionFeatures(device=device)
    have = {(r["run"], r["iteration"]) for r in done["rows"]}

    def save(entry: dict) -> None:
        done["rows"].append(entry)
        atomic_write_text(json.dumps(done, indent=1) + "\n", path)
        print(json.dumps({k: v for k, v in entry.items() if not isinstance(v, dict)}), flush=True)

    if (REAL, 0) not in have:
        train = load_split(out / "data" / "train.pt")
        pick = torch.from_numpy(np.random.default_rng(SEED).choice(len(train.labels), N, replace=False))
        real, truth = inception.of_images(train.images[pick], batch_size=BATCH), train.labels[pick].numpy()
        entry = {"run": REAL, "iteration": 0, **row(real, probe(real), refs, reference)}
        entry["label_spread"] = by_class(real, truth, refs)[1]
        entry["probe_agreement"] = float(np.mean(probe(real) == truth))
        save(entry)

    for run in args.runs:
        for checkpoint in list_snapshots(out / "runs" / run / "checkpoints"):
            iteration = int(checkpoint.stem.split("_")[1])
            if iteration < args.start or iteration % args.every or (run, iteration) in have:
                continue
            generator, _ = load_generator(checkpoint, device)
            cond = balanced_labels(N, generator.num_classes, device=device)
            batches = generate_batches(generator, n=N, batch_size=BATCH, seed=SEED, device=device, labels=cond)
            gen = inception.of_batches(batches)
            guessed = probe(gen)
            entry = {"run": run, "iteration": iteration, **row(gen, guessed, refs, reference)}
            if cond is not None:
                entry["label_spread"] = by_class(gen, cond.numpy(), refs)[1]
                entry["probe_agreement"] = float(np.mean(guessed == cond.numpy()))
            save(entry)


if __name__ == "__main__":
    main()
