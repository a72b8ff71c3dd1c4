"""Why cSAGAN lags DCGAN on Fashion-MNIST. Ablations, a peer comparison with Mimicry's
cGAN-PD networks, and the full-length DCGAN, all trained side by side on one GPU.

    python docs/studies/csagan.py prepare --fashion-mnist DIR --out runs/csagan [--reference]
    python docs/studies/csagan.py train-one --out runs/csagan --run RUN --model sagan|dcgan|mimicry [--mimicry DIR] [--iterations N]
    python docs/studies/csagan.py branch  --out runs/csagan --state PEER_LAST_AT_4000.pt [--seed 0] [--reseed R]
    python docs/studies/csagan.py branch  --out runs/csagan --family long --state LONG_LAST.pt  (at 5000 or 20000)
    python docs/studies/csagan.py train   --out runs/csagan --until UNIX_TIME [--mimicry DIR] [--only RUN...] [--iterations N]
    python docs/studies/csagan.py score   --out runs/csagan --workers 6 [--mimicry DIR] [--only RUN...] [--every K]
    python docs/studies/csagan.py report  --out runs/csagan [--runs RUN...]
    python docs/studies/csagan.py grids   --out runs/csagan [--runs RUN...] [--best]  (grids, colour; no re-scores)

`train` starts every run of `runs()` (or those named by --only) as its own process and stops
them all at --until: each keeps
the checkpoints (every 1000 iterations) it reached, and resumes exactly if started again.
Runs of one study compare at equal iterations, so a run stopped early costs length, not
fairness. `score` gives every checkpoint FID and intra-FID under one protocol: 2048
generated (class-balanced, latent seed 0) vs the 10k test images, pytorch-fid Inception;
intra-FID is the mean over classes of each class's ~205 generated images vs its 1000 test
images. `report` re-scores the best checkpoint of each run named by --runs at 10k vs the 10k
test images (latent seed 1) with FID, KID and per-class FID, beside the real-data floor, and
draws every run's class grid.

`branch` starts the recipe changes of BRANCHES (learning rates, EMA) from the peer run's `last.pt` saved
at iteration 4000: same G, D, Adam moments, data order and seed, only the changed keys differ
in the saved config, so `train --only` resumes each to 5000 beside the unchanged peer run. It
answers "does this change stop what happens next?" for a fraction of a run from scratch.

Mimicry (github.com/kwotsin/mimicry, commit a7fda06) is the yardstick, not part of ganlab: its
cGAN-PD 32 networks are imported from a checkout given by --mimicry and trained by ganlab's
loop, data and hinge loss, like ganlab's own cSAGAN with the same recipe. A checkout:
`git clone https://github.com/kwotsin/mimicry && git -C mimicry checkout a7fda06`.

`prepare` rewrites every run's params file from `runs()`: for a run added later, write its one
file with `variant.write_variant` instead, so the files of running runs stay as they started.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml

# Modules beside this script in docs/studies/ (Python puts the script's folder on sys.path).
from csagan_runs import (
    BRANCH_AT,
    BRANCHES,
    LONG,
    LONG_BRANCHES,
    REPORT_RUNS,
    RESEEDED,
    branch_name,
    long_branch_name,
    runs,
)
from mimicry_peer import register_mimicry
from variant import write_variant

from ganlab.io import atomic_write_text

# --- phases ---------------------------------------------------------------------------------


def prepare(args: argparse.Namespace) -> None:
    from ganlab.config import load_params
    from ganlab.data.prepare import prepare as prepare_data
    from ganlab.metrics.reference import compute_reference

    out = Path(args.out)
    (out / "params").mkdir(parents=True, exist_ok=True)
    extra = {k: yaml.safe_load(v) for k, _, v in (item.partition("=") for item in args.set)}
    for name, (_, overrides) in runs().items():
        write_variant(out / "params" / f"{name}.yaml", {**LONG, **overrides, **extra}, device="auto")
    write_variant(out / "prepare.yaml", {}, source=args.fashion_mnist)
    data = out / "data"
    if not (data / "test.pt").exists():
        prepare_data(
            load_params(out / "prepare.yaml").data,
            train_out=data / "train.pt",
            test_out=data / "test.pt",
            bad_out=data / "bad_files.txt",
        )
    if args.reference and not (data / "test_stats.npz").exists():
        compute_reference(
            reference="test",
            test_path=data / "test.pt",
            train_path=data / "train.pt",
            stats_out=data / "test_stats.npz",
            reference_features_out=data / "test_features.npz",
            floor_features_out=data / "floor_features.npz",
            batch_size=500,
            device="auto",
            progress=False,
        )


def branch(args: argparse.Namespace) -> None:
    """Start every branch run from its parent's `last.pt` (--state), with the saved config changed
    by the branch's keys only. --family peer: the arms of BRANCHES from the peer run of --seed at
    BRANCH_AT (with --reseed R, the arms of RESEEDED, each with its training RNG restarted from
    seed R); --family long: the arms of LONG_BRANCHES whose branch point is the state's iteration."""
    from ganlab.config import load_params, to_dict
    from ganlab.io import atomic_torch_save, load_checkpoint
    from ganlab.training.checkpoints import upgrade_config

    out = Path(args.out)
    state = load_checkpoint(args.state)
    at = state["iteration"]
    if args.family == "long":
        arms = {long_branch_name(arm): change for arm, (start, change) in LONG_BRANCHES.items() if start == at}
        points = sorted({start for start, _ in LONG_BRANCHES.values()})
    else:
        chosen = BRANCHES if args.reseed is None else RESEEDED
        arms = (
            {branch_name(args.seed, arm, args.reseed): change for arm, change in chosen.items()}
            if at == BRANCH_AT
            else {}
        )
        points = [BRANCH_AT]
    if not arms:
        raise SystemExit(f"{args.state}: saved at iteration {at}, {args.family} branches start at {points}")
    saved = upgrade_config(state["config"])["params"]
    for name, change in arms.items():
        target = out / "runs" / name / "last.pt"
        if target.exists():
            print(f"{name}: already branched ({target})")
            continue
        write_variant(out / "params" / f"{name}.yaml", {**LONG, **runs()[name][1]}, device="auto")
        params = to_dict(load_params(out / "params" / f"{name}.yaml").sagan)
        changed = {k for k in params if k != "iterations" and params[k] != saved.get(k)}
        expected = {key.split(".")[1] for key in change} - {"iterations"}
        if changed != expected:
            raise SystemExit(
                f"{name}: its params differ from {args.state} in {sorted(changed)}, expected {sorted(expected)}"
            )
        branched = {**state, "config": {**state["config"], "params": params}}
        if args.reseed is not None:
            rng = torch.Generator(device=state["rng"]["device"]).manual_seed(args.reseed)
            branched["rng"] = {**state["rng"], "state": rng.get_state()}
        if params["ema"] > 0 and "generator_ema" not in branched:
            branched["generator_ema"] = state["generator"]
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_torch_save(branched, target)
        print(f"{name}: branched from {args.state} at iteration {at} with {change}")


def train(args: argparse.Namespace) -> None:
    """Every run in its own process, all at once; all stopped at --until."""
    out = Path(args.out)
    procs = {}
    for name, (model, _) in runs().items():
        if args.only and name not in args.only:
            continue
        cmd = [sys.executable, __file__, "train-one", "--out", args.out, "--run", name, "--model", model]
        cmd += ["--mimicry", args.mimicry] if args.mimicry else []
        cmd += ["--iterations", str(args.iterations)] if args.iterations else []
        log = open(out / f"{name}.log", "a")  # noqa: SIM115 (the child writes to it until it exits)
        procs[name] = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"}
        )
        if name == "dcgan" and hasattr(os, "setpriority"):
            try:  # its full 50k iterations are the one length fixed in advance: first call on the CPU
                os.setpriority(os.PRIO_PROCESS, procs[name].pid, -5)
            except PermissionError:
                pass
    while procs and time.time() < args.until:
        time.sleep(5)
        for name, proc in list(procs.items()):
            if proc.poll() is not None:
                print(f"{name}: exited with {proc.returncode}", flush=True)
                del procs[name]
    for proc in procs.values():
        proc.terminate()
    for proc in procs.values():
        proc.wait()


def train_one(args: argparse.Namespace) -> None:
    from ganlab.config import load_params
    from ganlab.training.loop import train as train_loop

    register_mimicry(args.mimicry)
    out = Path(args.out)
    params = load_params(out / "params" / f"{args.run}.yaml")
    section = "sagan" if args.model == "mimicry" else args.model
    cfg = getattr(params, section)
    if args.iterations:  # resuming ignores `iterations`, so this extends a finished run
        cfg = dataclasses.replace(cfg, iterations=args.iterations)
    train_loop(
        args.model,
        cfg,
        seed=params.seeds[0],
        device=params.device,
        data_paths=[out / "data" / "train.pt"],
        out_dir=out / "runs" / args.run,
        live_dir=None,
        progress=False,
    )


class Scorer:
    """ganlab's report scoring (ganlab.metrics.report.score_checkpoint) under the study's
    protocol, with the test set's Inception reference and every class's reference built once."""

    def __init__(self, out: Path, device: torch.device) -> None:
        from ganlab.data.prepared import load_split
        from ganlab.metrics.fid import FrechetReference, InceptionFeatures, linalg_device, load_statistics
        from ganlab.metrics.reference import load_features
        from ganlab.metrics.report import ClassReferences

        self.inception = InceptionFeatures(device=device)
        stats = load_statistics(out / "data" / "test_stats.npz")
        self.reference = FrechetReference(stats["mu"], stats["sigma"], device=linalg_device(device))
        self.features, self.labels = load_features(out / "data" / "test_features.npz")
        classes = load_split(out / "data" / "test.pt").classes
        self.classes = ClassReferences(self.features, self.labels, classes, device=linalg_device(device))

    def __call__(self, checkpoint: Path, *, n: int, seed: int, with_kid: bool = False) -> dict:
        """KID (100 subsets of 1000) only where the report needs it: FID alone per curve point."""
        from ganlab.metrics.report import score_checkpoint

        return score_checkpoint(
            checkpoint,
            inception=self.inception,
            reference=self.reference,
            ref_features=self.features,
            ref_labels=self.labels,
            n=n,
            seed=seed,
            batch_size=256,
            with_kid=with_kid,
            class_references=self.classes,  # unused for DCGAN, which is unconditional
        )


def scored_rows(out: Path) -> dict[str, dict[int, dict]]:
    """run -> iteration -> row, from every worker's part file (also after a timeout); the first
    row of a checkpoint scored twice wins (scoring is deterministic)."""
    rows: dict[str, dict[int, dict]] = {}
    for part in sorted(out.glob("scores.*.json")):
        for run, items in json.loads(part.read_text()).items():
            for item in items:
                rows.setdefault(run, {}).setdefault(item["iteration"], item)
    return rows


def score(args: argparse.Namespace) -> None:
    """Checkpoints dealt round-robin to --workers processes sharing the GPU."""
    out = Path(args.out)
    if args.worker is None:
        cmd = [sys.executable, __file__, "score", "--out", args.out, "--workers", str(args.workers), "--n", str(args.n)]
        cmd += ["--mimicry", args.mimicry] if args.mimicry else []
        cmd += ["--only", *args.only] if args.only else []
        cmd += ["--every", str(args.every)] if args.every else []
        procs = [subprocess.Popen(cmd + ["--worker", str(w)]) for w in range(args.workers)]
        codes = [p.wait() for p in procs]
        rows = {run: [items[it] for it in sorted(items)] for run, items in scored_rows(out).items()}
        (out / "scores.json").write_text(json.dumps(rows, indent=1) + "\n")
        print(f"scored {sum(map(len, rows.values()))} checkpoints of {len(rows)} runs; worker exits {codes}")
        return
    from ganlab.training.checkpoints import list_snapshots, snapshot_iteration

    register_mimicry(args.mimicry)
    # What any worker of any earlier call scored counts as done, and only the rest is dealt, so a
    # rerun with another --workers neither re-scores a checkpoint nor leaves a worker idle.
    scored = scored_rows(out)
    todo = [
        (run, ckpt)
        for run in runs()
        if not args.only or run in args.only
        for ckpt in list_snapshots(out / "runs" / run / "checkpoints")
        if (it := snapshot_iteration(ckpt)) not in scored.get(run, {}) and it % (args.every or 1) == 0
    ]
    part = out / f"scores.{args.worker}.json"
    mine = todo[args.worker :: args.workers]
    if not mine:
        return  # a polling caller would otherwise load Inception for nothing
    scorer = Scorer(out, torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    for run, ckpt in mine:
        row = scorer(ckpt, n=args.n, seed=0)  # DCGAN is unconditional: FID only
        # Read again just before writing: another call's worker of the same number (another
        # --only, on the other core) may have added rows to this file meanwhile.
        done = json.loads(part.read_text()) if part.exists() else {}
        done.setdefault(run, []).append(row)
        atomic_write_text(json.dumps(done) + "\n", part)  # a timeout may stop this worker any time


def report(args: argparse.Namespace) -> None:
    """Best checkpoint (lowest FID at 2048) of each run of --runs (default REPORT_RUNS), re-scored
    at 10k vs the 10k test images with latent seed 1; the floor; then `grids` (of --runs, or of
    every scored run when none are named)."""
    from ganlab.metrics.fid import FrechetReference, load_statistics
    from ganlab.metrics.reference import floor_fid, load_features
    from ganlab.training.checkpoints import snapshot_path

    register_mimicry(args.mimicry)
    out = Path(args.out)
    scores = json.loads((out / "scores.json").read_text())
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    scorer = Scorer(out, device)
    path = out / "report.json"
    # Re-scores add up over calls (each costs a CPU core half an hour); a run named again is replaced.
    header = {
        "protocol": "10k generated (class-balanced, latent seed 1) vs the 10k test images, pytorch-fid "
        "Inception; per-class FID: 1k per class vs that class's 1k test images"
    }
    floor_features = out / "data" / "floor_features.npz"
    if floor_features.exists():
        stats = load_statistics(out / "data" / "test_stats.npz")
        floor, n_floor = floor_fid(
            load_features(floor_features)[0], FrechetReference(stats["mu"], stats["sigma"]), n=args.n_report
        )
        header["floor"] = {"fid": floor, "n": n_floor}
    else:
        # The floor's Inception pass over 10k training images costs half an hour of a CPU core,
        # and the floor does not depend on any run: a study may quote it from an earlier report.
        print(f"no {floor_features}: report without the floor", flush=True)
    for run in args.runs or REPORT_RUNS:
        rows = scores.get(run)
        if not rows:
            continue
        best = min(rows, key=lambda r: r["fid"])
        ckpt = snapshot_path(out / "runs" / run / "checkpoints", best["iteration"])
        row = {
            "best_iteration": best["iteration"],
            "curve_fid": best["fid"],
            "last_iteration": rows[-1]["iteration"],
            **scorer(ckpt, n=args.n_report, seed=1, with_kid=True),
        }
        print(run, json.dumps({k: v for k, v in row.items() if k != "per_class_fid"}), flush=True)
        # Read only now: a report call for other runs (on the other core) may have added its rows.
        result = json.loads(path.read_text()) if path.exists() else {}
        atomic_write_text(json.dumps({**result, **header, run: row}, indent=1) + "\n", path)
    grids(args)


def grids(args: argparse.Namespace) -> None:
    """The last checkpoint (with --best, the lowest-FID scored one) of every scored run, or of
    --runs: 100 samples (latent seed 0), a column per class, and how far 1000 samples stray from
    grey (Fashion-MNIST is grey in three equal channels, so colour in a sample is an artifact FID
    punishes)."""
    from ganlab.viz.grids import grid_image
    from ganlab.sampling import generate
    from ganlab.training.checkpoints import list_snapshots, load_generator, snapshot_iteration, snapshot_path

    register_mimicry(args.mimicry)
    out = Path(args.out)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    (out / "grids").mkdir(exist_ok=True)
    scores = json.loads((out / "scores.json").read_text())
    for run in args.runs or scores:
        folder = out / "runs" / run / "checkpoints"
        if args.best:
            ckpt = snapshot_path(folder, min(scores[run], key=lambda r: r["fid"])["iteration"])
        else:  # the last snapshot, scored or not (the branches are measured by variety.py instead)
            ckpt = list_snapshots(folder)[-1]
        at = snapshot_iteration(ckpt)
        generator, _ = load_generator(ckpt, device)
        images = generate(generator, n=100, batch_size=100, seed=0, device=device)  # class-balanced
        grid_image(images.cpu(), nrow=10).save(out / "grids" / f"{run}_{at}.png")
        images = generate(generator, n=1000, batch_size=250, seed=0, device=device).float()
        off_grey = (images - images.mean(1, keepdim=True)).abs().mean().item()
        print(f"{run} {at}: mean |channel - grey| {off_grey:.2f} of 255")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("phase", choices=("prepare", "branch", "train", "train-one", "score", "report", "grids"))
    parser.add_argument("--out", required=True)
    parser.add_argument("--fashion-mnist", help="folder of the official idx .gz files (prepare)")
    parser.add_argument("--reference", action="store_true", help="prepare: also the test-set Inception reference")
    parser.add_argument("--set", nargs="*", default=[], help="prepare: key=value for every run (smoke tests)")
    parser.add_argument("--until", type=float, default=float("inf"), help="train: stop every run at this Unix time")
    parser.add_argument("--only", nargs="*", help="train, score: these runs only")
    parser.add_argument("--iterations", type=int, help="train: train to this iteration instead (extends a run)")
    parser.add_argument("--mimicry", help="a checkout of kwotsin/mimicry")
    parser.add_argument("--run")
    parser.add_argument("--state", help="branch: the parent's last.pt saved at the family's branch point")
    parser.add_argument(
        "--family",
        choices=("peer", "long"),
        default="peer",
        help=f"branch: BRANCHES of the peer run at {BRANCH_AT}, or LONG_BRANCHES of the long run at their own points",
    )
    parser.add_argument("--seed", type=int, default=0, help="branch: the parent run's seed")
    parser.add_argument("--reseed", type=int, help="branch: continue RESEEDED arms on a new RNG stream")
    parser.add_argument("--model")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--worker", type=int)
    parser.add_argument(
        "--every", type=int, help="score: only checkpoints at multiples of this iteration (a coarse curve first)"
    )
    parser.add_argument("--n", type=int, default=2048, help="score: images generated per checkpoint")
    parser.add_argument("--n-report", type=int, default=10000, help="report: images generated per model")
    parser.add_argument("--runs", nargs="*", help=f"report, grids: these runs (report: default {REPORT_RUNS})")
    parser.add_argument("--best", action="store_true", help="grids: each run's lowest-FID checkpoint, not its last")
    args = parser.parse_args()
    if args.every is not None and args.every <= 0:
        parser.error(f"--every: expected a positive iteration count, found {args.every}")
    if args.iterations is not None and args.iterations <= 0:
        parser.error(f"--iterations: expected a positive iteration count, found {args.iterations}")
    unknown = sorted(set(args.only or ()) - set(runs()))
    if unknown:
        parser.error(f"--only: no such run {unknown}; the runs are {sorted(runs())}")
    phases = {
        "prepare": prepare,
        "branch": branch,
        "train": train,
        "train-one": train_one,
        "score": score,
        "report": report,
        "grids": grids,
    }
    phases[args.phase](args)


if __name__ == "__main__":
    main()
