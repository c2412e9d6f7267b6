"""Drift decision rules on seeded synthetic windows: false alarms per window and power.

Three rules judge the same windows of ten mixed features (seven numeric: normal, shifted normal,
lognormal, Poisson counts with heavy ties, uniform integers, normal with 2% missing, uniform;
three categorical with 5, 12 (one rare) and 20 Zipf-like levels):

- `ks_bonferroni`: mleng's `measure_feature_drift` (KS / Fisher / chi-square, each test at
  0.05 / number of tests), the calibrated decision;
- `wasserstein_0.1`: Evidently's default for numeric columns beyond 1,000 rows, Wasserstein
  distance over the reference standard deviation >= 0.1;
- `psi_0.1`: population stability index over 10 reference-quantile bins >= 0.1.

The distance rules judge the numeric columns only (categorical ones would only add alarms).
False alarms: share of unshifted windows where any column is flagged, with a fresh reference
per window and with one fixed reference (what a deployed monitor sees). Power: share of
windows where the "shifted" column is flagged, for mean shifts of 0.05, 0.1 and 0.2 sd.

Run: python bench/drift.py [--quick] [--windows 300]; writes bench/results/drift.json
(quick: drift_quick.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy

from mleng.monitoring.drift import DriftReport, measure_feature_drift

ROOT = Path(__file__).resolve().parents[1]
NUMERIC = ["normal", "shifted", "lognormal", "counts", "integers", "with_missing", "uniform"]
CATEGORICAL = ["colour", "region", "product"]
SHIFTS = (0.05, 0.1, 0.2)
RULES = ("ks_bonferroni", "wasserstein_0.1", "psi_0.1")
ZIPF = (1 / np.arange(1, 21)) / (1 / np.arange(1, 21)).sum()


def make_window(rng: np.random.Generator, rows: int, shift: float = 0.0) -> pd.DataFrame:
    """Ten mixed features; `shift` moves the mean of "shifted" by that many sd."""
    with_missing = rng.normal(size=rows)
    with_missing[rng.random(rows) < 0.02] = np.nan
    regions = np.r_[np.full(11, 0.9995 / 11), 0.0005]
    return pd.DataFrame(
        {
            "normal": rng.normal(size=rows),
            "shifted": rng.normal(size=rows) + shift,
            "lognormal": rng.lognormal(0.0, 1.0, rows),
            "counts": rng.poisson(3.0, rows),
            "integers": rng.integers(0, 100, rows),
            "with_missing": with_missing,
            "uniform": rng.random(rows),
            "colour": rng.choice(5, rows, p=[0.3, 0.25, 0.2, 0.15, 0.1]).astype(str),
            "region": rng.choice(12, rows, p=regions).astype(str),
            "product": rng.choice(20, rows, p=ZIPF).astype(str),
        }
    )


def flagged_columns(report: DriftReport) -> dict[str, set[str]]:
    """The columns each rule flags in one window."""
    values = [t for t in report.tests if t.test == "ks"]
    return {
        "ks_bonferroni": set(report.drifted_columns),
        "wasserstein_0.1": {t.column for t in values if t.detail["wasserstein_sd"] >= 0.1},
        "psi_0.1": {t.column for t in values if t.detail["psi"] >= 0.1},
    }


def run_windows(
    windows: int, rows: int, shift: float, fixed_reference: bool, seed: int
) -> dict[str, float]:
    """Per rule, the share of windows with any column flagged (shift 0) or with "shifted"
    flagged (shift > 0)."""
    rng = np.random.default_rng(seed)
    reference = make_window(rng, rows)
    hits = dict.fromkeys(RULES, 0)
    for _ in range(windows):
        if not fixed_reference:
            reference = make_window(rng, rows)
        report = measure_feature_drift(
            reference, make_window(rng, rows, shift), NUMERIC, CATEGORICAL
        )
        for rule, columns in flagged_columns(report).items():
            hits[rule] += bool(columns) if shift == 0 else "shifted" in columns
    return {rule: hits[rule] / windows for rule in RULES}


def monte_carlo_sd(share: float, windows: int) -> float:
    return float(np.sqrt(max(share * (1 - share), 1e-12) / windows))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="60 windows (a few seconds)")
    parser.add_argument("--windows", type=int, default=500)
    parser.add_argument("--rows", type=int, default=5_000)
    args = parser.parse_args()
    windows = 60 if args.quick else args.windows
    settings = [("false alarms, fresh reference", 0.0, False)]
    settings += [("false alarms, fixed reference", 0.0, True)]
    settings += [(f"power at {shift} sd", shift, False) for shift in SHIFTS]
    results: list[dict[str, Any]] = []
    started = time.perf_counter()
    for seed, (label, shift, fixed) in enumerate(settings):
        shares = run_windows(windows, args.rows, shift, fixed, seed)
        results.append(
            {
                "setting": label,
                "shift_sd": shift,
                "fixed_reference": fixed,
                "windows": windows,
                "rows": args.rows,
                "share_flagged": shares,
                "monte_carlo_sd": {rule: monte_carlo_sd(s, windows) for rule, s in shares.items()},
            }
        )
    seconds = time.perf_counter() - started
    print_table(results)
    print(f"\n{len(settings) * windows} windows in {seconds:.1f} s")
    output = ROOT / "bench" / "results" / ("drift_quick.json" if args.quick else "drift.json")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(
        json.dumps(
            {
                "settings": {
                    "alpha": 0.05,
                    "rows": args.rows,
                    "windows": windows,
                    "numeric": NUMERIC,
                    "categorical": CATEGORICAL,
                    "rules": RULES,
                    "quick": args.quick,
                },
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "numpy": np.__version__,
                    "scipy": scipy.__version__,
                    "pandas": pd.__version__,
                },
                "seconds": seconds,
                "results": results,
            },
            indent=2,
        )
    )
    print(f"wrote {output.relative_to(ROOT)}")


def print_table(results: list[dict[str, Any]]) -> None:
    """One line per setting: each rule's share of windows flagged (Monte Carlo sd)."""
    print(f"\n{'setting':<32}" + "".join(f"{rule:>20}" for rule in RULES))
    for row in results:
        cells = "".join(
            f"{row['share_flagged'][r]:>12.3f} ({row['monte_carlo_sd'][r]:.3f})" for r in RULES
        )
        print(f"{row['setting']:<32}{cells}")


if __name__ == "__main__":
    main()
