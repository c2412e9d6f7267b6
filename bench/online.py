"""Benchmark: the prediction service's online decisions, on simulations with known truths.

- Bandits: cumulative expected regret of Thompson sampling, epsilon-greedy (epsilon 0.1) and
  UCB1 on Bernoulli arms converting at 10 / 10.5 / 11%, as a ratio to a uniform split's regret
  (lower is better; the uniform split loses 0.005 conversions per request). All policies meet
  the same simulated outcomes (common random numbers). The ratio falls with the horizon, as the
  policies stop exploring, so it is reported at several horizons.
- Sequential A/B: share of A/A experiments (both arms converting at 10%) in which a difference
  is declared at any look, for the naive fixed-horizon z-test rechecked at every look and for
  the mSPRT (alpha 5%), under 10 looks and under near-continuous monitoring (200 looks); and the
  share of 10% vs 12% experiments whose confidence sequence covers the true difference at
  every look, and how often each method detects that difference.

Run: python bench/online.py [--quick]; writes bench/results/online.json
(quick: online_quick.json).
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

from mleng.serving.bandit import BANDIT_POLICIES, compare_policies
from mleng.serving.sequential import (
    SEQUENTIAL_METHODS,
    LookPlan,
    simulate_coverage,
    simulate_false_positive_rate,
    simulate_rejection_rate,
)

ROOT = Path(__file__).resolve().parents[1]
RATES = (0.10, 0.105, 0.11)
ALPHA = 0.05
AB_RATES = (0.12, 0.10)


def bandit_rows(horizons: tuple[int, ...], n_runs: int, seed: int) -> list[dict[str, Any]]:
    """One row per horizon: each policy's regret ratio to the uniform split."""
    rows = []
    for n_rounds in horizons:
        start = time.perf_counter()
        ratios = compare_policies(RATES, n_rounds, n_runs, seed)
        rows.append(
            {
                "n_rounds": n_rounds,
                "n_runs": n_runs,
                **ratios,
                "seconds": time.perf_counter() - start,
            }
        )
    return rows


def sequential_rows(plans: tuple[LookPlan, ...], n_simulations: int, seed: int) -> list[dict]:
    """One row per look plan: false-positive rate, power and (mSPRT) coverage."""
    rows = []
    for plan in plans:
        row: dict[str, Any] = {
            "n_looks": plan.n_looks,
            "rows_per_look": plan.rows_per_look,
            "n_simulations": n_simulations,
        }
        for method in SEQUENTIAL_METHODS:
            row[f"false_positive_{method}"] = simulate_false_positive_rate(
                method, plan, n_simulations, seed, alpha=ALPHA
            )
            row[f"power_{method}"] = simulate_rejection_rate(
                method, plan, n_simulations, seed + 1, AB_RATES, ALPHA
            )
        row["coverage_msprt"] = simulate_coverage(plan, n_simulations, seed + 2, AB_RATES, ALPHA)
        rows.append(row)
    return rows


def print_bandit_table(rows: list[dict[str, Any]]) -> None:
    print(f"\nRegret / uniform split's regret, rates {', '.join(f'{r:.1%}' for r in RATES)}")
    header = "".join(f"{policy:>16}" for policy in BANDIT_POLICIES)
    print(f"{'rounds':>10}{'runs':>8}{header}{'seconds':>10}")
    for row in rows:
        cells = "".join(f"{row[policy]:>16.3f}" for policy in BANDIT_POLICIES)
        print(f"{row['n_rounds']:>10}{row['n_runs']:>8}{cells}{row['seconds']:>10.1f}")


def print_sequential_table(rows: list[dict[str, Any]]) -> None:
    print(
        f"\nDifference declared at any look, alpha {ALPHA:.0%}: A/A at 10% (false positive), "
        f"{AB_RATES[0]:.0%} vs {AB_RATES[1]:.0%} (power); mSPRT coverage at every look"
    )
    print(
        f"{'looks':>6}{'rows/look':>11}{'sims':>8}{'FP naive':>11}{'FP mSPRT':>11}"
        f"{'power naive':>13}{'power mSPRT':>13}{'coverage':>10}"
    )
    for row in rows:
        print(
            f"{row['n_looks']:>6}{row['rows_per_look']:>11}{row['n_simulations']:>8}"
            f"{row['false_positive_naive']:>11.3f}{row['false_positive_msprt']:>11.3f}"
            f"{row['power_naive']:>13.3f}{row['power_msprt']:>13.3f}{row['coverage_msprt']:>10.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="short horizons (a few seconds)")
    args = parser.parse_args()
    if args.quick:
        horizons, n_runs, n_simulations = (10_000, 20_000), 16, 5_000
    else:
        horizons, n_runs, n_simulations = (20_000, 40_000, 50_000, 100_000), 256, 50_000
    plans = (LookPlan(10, 1_000), LookPlan(200, 50))

    bandits = bandit_rows(horizons, n_runs, seed=0)
    print_bandit_table(bandits)
    sequential = sequential_rows(plans, n_simulations, seed=0)
    print_sequential_table(sequential)

    # a smoke run must not overwrite the measured results kept in the repository
    output = ROOT / "bench" / "results" / ("online_quick.json" if args.quick else "online.json")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(
        json.dumps(
            {
                "settings": {
                    "rates": RATES,
                    "epsilon": 0.1,
                    "ab_rates": AB_RATES,
                    "alpha": ALPHA,
                    "quick": args.quick,
                },
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "numpy": np.__version__,
                },
                "bandits": bandits,
                "sequential": sequential,
            },
            indent=2,
        )
    )
    print(f"\nwrote {output.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
