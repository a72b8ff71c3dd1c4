"""The tables of the CycleGAN emoji study (docs/studies/cyclegan_emoji.md) from its runs' files:

    python docs/studies/cyclegan_table.py --out runs/cycle --runs ref_s0 ref_s1

One table of the best checkpoints as `report_cyclegan` re-scored them, with the baselines of the
first run's report (they depend on the test images only, the same for every run), and one of
each run's curve (`fid_cyclegan`'s fid.csv) at every `--every` iterations, the paired MAE also as
a percentage below the identity baseline's.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

NAMES = {"ab": "google→twitter", "ba": "twitter→google"}
BASELINES = {  # report.json's key -> the table's name
    "identity": "identity (the source as it is)",
    "mean_of_target": "mean training image of the target",
    "recolour_oracle": "recolouring oracle (fitted to each twin)",
    "floor": "floor: 401 real training images of the target",
}


def _cells(scores: dict | None, paired: dict | None) -> list[str]:
    scores, paired = scores or {}, paired or {}
    kid, fid = scores.get("kid"), scores.get("fid")
    kid = kid["mean"] if isinstance(kid, dict) else kid  # the report's KID has its mean and spread
    mae, psnr = paired.get("mae"), paired.get("psnr")
    return [
        f"{1000 * kid:.1f}" if kid is not None else "",
        f"{fid:.1f}" if fid is not None else "",
        f"{mae:.1f}" if mae is not None else "",
        f"{psnr:.2f}" if psnr is not None else "",
    ]


def best_table(reports: dict[str, dict]) -> list[str]:
    lines = [
        "| run | checkpoint | direction | KID ×10³ | FID | paired MAE | PSNR (dB) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run, row in reports.items():
        for k, d in enumerate(NAMES):
            lead = [run, str(row["iteration"])] if k == 0 else ["", ""]
            lines.append("| " + " | ".join(lead + [NAMES[d]] + _cells(row[d], row[d]["paired"]["translation"])) + " |")
    first = next(iter(reports.values()))
    for key, name in BASELINES.items():
        for k, d in enumerate(NAMES):
            cells = _cells(first[d].get(key), first[d]["paired"].get(key))
            lines.append("| " + " | ".join([f"*{name}*" if k == 0 else "", "", NAMES[d]] + cells) + " |")
    return lines


def curve_table(out: Path, reports: dict[str, dict], every: int) -> list[str]:
    first = next(iter(reports.values()))
    base = {d: first[d]["paired"]["identity"]["mae"] for d in NAMES}
    lines = [
        "| run | iteration | mean FID | KID ×10³ g→t / t→g | MAE g→t (below identity) | MAE t→g (below identity) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for run in reports:
        with open(out / run / "fid.csv", newline="") as f:
            rows = [r for r in csv.DictReader(f) if int(r["iteration"]) % every == 0]
        for r in rows:
            mae = {d: float(r[f"mae_{d}"]) for d in NAMES}
            below = {d: 100 * (1 - mae[d] / base[d]) for d in NAMES}
            lines.append(
                f"| {run} | {r['iteration']} | {float(r['fid']):.1f} | "
                f"{1000 * float(r['kid_ab']):.1f} / {1000 * float(r['kid_ba']):.1f} | "
                + " | ".join(f"{mae[d]:.1f} ({below[d]:.1f}%)" for d in NAMES)
                + " |"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/cycle"))
    parser.add_argument("--runs", nargs="+", default=["ref_s0", "ref_s1"])
    parser.add_argument("--every", type=int, default=2000)
    args = parser.parse_args()
    reports = {run: json.loads((args.out / run / "report.json").read_text())["cyclegan"] for run in args.runs}
    print("\n".join(best_table(reports)), end="\n\n")
    print("\n".join(curve_table(args.out, reports, args.every)))


if __name__ == "__main__":
    main()
