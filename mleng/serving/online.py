"""`mleng ab-test`: the served arms compared on their logged rewards, always-valid (mSPRT).

Arms are model versions (and the holdout group, when there is one: comparing it with the
champion measures what the model itself changes). The baseline is the version that served the
most requests as champion. Looking again tomorrow does not inflate the error rate: the test and
its intervals are valid at every look (`mleng.serving.sequential`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mleng.errors import MlengError
from mleng.serving.prediction_log import PredictionLog
from mleng.serving.sequential import compare_sequentially
from mleng.tracking.registry import redact_uri


@dataclass(frozen=True)
class OnlineReport:
    rows: list[tuple[str, ...]]
    verdict: str


def label_arms(outcomes: pd.DataFrame) -> pd.Series:
    """`v<version>` for model answers, `holdout` for held-out callers."""
    versions = "v" + outcomes["model_version"].astype(str)
    return versions.where(~outcomes["holdout"].astype(bool), "holdout")


def compare_arms(log_url: str, model_name: str, alpha: float = 0.05) -> OnlineReport:
    """Every arm against the baseline arm, on the rewards of requests that got feedback."""
    log = PredictionLog(log_url)
    try:
        outcomes = log.read_outcomes(model_name)
    finally:
        log.close()
    rewarded = outcomes[outcomes["reward"].notna()] if not outcomes.empty else outcomes
    if rewarded.empty:
        raise MlengError(
            f"the prediction log {redact_uri(log_url)} holds no rewarded requests for model "
            f"{model_name!r}; send outcomes or rewards to POST /feedback first"
        )
    rewarded = rewarded.assign(role=rewarded["arm"], arm=label_arms(rewarded))
    as_champion = rewarded[rewarded["role"] == "champion"]
    pool = as_champion if not as_champion.empty else rewarded[rewarded["arm"] != "holdout"]
    if pool.empty:
        pool = rewarded
    baseline = str(pool["arm"].value_counts().idxmax())
    base = rewarded.loc[rewarded["arm"] == baseline, "reward"].to_numpy(dtype="float64")
    rows = [(baseline, "-", str(len(base)), f"{base.mean():.4f}", "-", "-", "-")]
    verdicts = []
    for arm, group in rewarded.groupby("arm"):
        if arm == baseline:
            continue
        values = group["reward"].to_numpy(dtype="float64")
        if len(values) < 2 or len(base) < 2:
            rows.append((str(arm), baseline, str(len(values)), f"{np.mean(values):.4f}", *"---"))
            continue
        result = compare_sequentially(str(arm), values, baseline, base, alpha=alpha)
        rows.append(
            (
                str(arm),
                baseline,
                str(result.n_arm),
                f"{result.mean_arm:.4f}",
                f"{result.difference:+.4f}",
                f"[{result.ci_low:+.4f}, {result.ci_high:+.4f}]",
                f"{result.p_value:.4f}",
            )
        )
        if result.significant:
            better = "better" if result.difference > 0 else "worse"
            verdicts.append(
                f"{arm} is {better} than {baseline} (always-valid p {result.p_value:.4f})"
            )
    verdict = "; ".join(verdicts) or "no arm differs from the baseline yet; keep collecting"
    return OnlineReport(rows, verdict)
