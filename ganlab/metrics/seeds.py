"""Statistics over training seeds: each metric's mean with a 95% confidence interval, and the
difference of two configurations with its interval.

Retraining with a new seed moves a GAN's FID several times more than re-sampling one network
does, so ganlab's error bars are over training runs, one value per run (`seeds` in params.yaml),
never over re-samples of one checkpoint.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

LEVEL = 0.95
SUMMARY_METHOD = (
    "mean over training seeds; std with ddof 1; 95% CI = mean ± t(0.975, n−1)·std/√n (Student's t); "
    "no CI for n = 1"
)
DIFFERENCE_METHOD = (
    "difference of means, 95% CI with Welch's standard error √(s₁²/n₁ + s₂²/n₂) and Welch–Satterthwaite "
    "degrees of freedom; inconclusive where the CI contains 0"
)


def summarize(values: list[float]) -> dict:
    """n, mean, std and the 95% Student-t interval of one metric over seeds (NaN-free values).

    With one value there is no spread to estimate: std and the interval are None."""
    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    if n == 0:
        raise ValueError("no values to summarize")
    mean = float(x.mean())
    if n == 1:
        return {"n": 1, "mean": mean, "std": None, "ci95_low": None, "ci95_high": None, "ci95_half": None}
    std = float(x.std(ddof=1))
    half = float(stats.t.ppf(0.5 + LEVEL / 2, n - 1) * std / math.sqrt(n))
    return {"n": n, "mean": mean, "std": std, "ci95_low": mean - half, "ci95_high": mean + half, "ci95_half": half}


def welch_difference(a: list[float], b: list[float]) -> dict:
    """mean(a) − mean(b) with its 95% Welch interval, and whether that interval excludes 0.

    Each side needs two or more values; with fewer there is no interval and the verdict is
    "inconclusive" (too few seeds), never a difference."""
    xa, xb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    diff = float(xa.mean() - xb.mean())
    if len(xa) < 2 or len(xb) < 2:
        return {"difference": diff, "ci95_low": None, "ci95_high": None, "df": None, "verdict": "inconclusive"}
    va, vb = xa.var(ddof=1) / len(xa), xb.var(ddof=1) / len(xb)
    se = math.sqrt(va + vb)
    if se == 0.0:  # identical values on both sides: the difference is exact
        low = high = diff
        df = float(len(xa) + len(xb) - 2)
    else:
        df = (va + vb) ** 2 / (va**2 / (len(xa) - 1) + vb**2 / (len(xb) - 1))
        half = float(stats.t.ppf(0.5 + LEVEL / 2, df) * se)
        low, high = diff - half, diff + half
    verdict = "inconclusive" if low <= 0.0 <= high else ("higher" if low > 0 else "lower")
    return {"difference": diff, "ci95_low": low, "ci95_high": high, "df": float(df), "verdict": verdict}
