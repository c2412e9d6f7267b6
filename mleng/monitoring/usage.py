"""Usage: requests in the last full hour against the same hour on earlier days.

Traffic follows the clock, so the fair baseline for 14:00 today is 14:00 on previous days. The
flag needs two things at once. The count must leave the band [min / 2, 2 * max] of the earlier
days' counts: real traffic varies from day to day far more than Poisson noise, and a plain
Poisson test at a thousand requests an hour would flag every ordinary Tuesday. And it must be
improbable as Poisson noise around the earlier days' mean (one-sided p < `USAGE_ALPHA`): at a
handful of requests an hour, halving is noise. Together a drop to a tenth of normal traffic is
flagged from about twenty requests an hour upwards, and ordinary variation almost never is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

USAGE_ALPHA = 0.001
HOUR = pd.Timedelta(hours=1)
DAY = pd.Timedelta(days=1)


@dataclass(frozen=True)
class UsageVerdict:
    """How one hour's count compares with the same hour's counts on earlier days."""

    status: str  # "normal", "below", "above" or "no_baseline" (no requests on earlier days)
    flagged: bool
    band_low: float  # min / 2 of the earlier counts
    band_high: float  # 2 * max of the earlier counts
    p_value: float  # one-sided Poisson tail at the earlier mean, in the direction of the count


@dataclass(frozen=True)
class UsageReport:
    """Requests in the hour [hour_start, hour_end) and on the same hour of earlier days."""

    hour_start: pd.Timestamp
    hour_end: pd.Timestamp
    requests: int
    previous: tuple[int, ...]  # one day back first
    mean: float
    minimum: int
    maximum: int
    verdict: UsageVerdict

    @property
    def flagged(self) -> bool:
        return self.verdict.flagged


def as_utc(moment: pd.Timestamp) -> pd.Timestamp:
    """A timestamp in UTC; a naive one is taken to be UTC already."""
    moment = pd.Timestamp(moment)
    return moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")


def utc_times(timestamps: pd.Series) -> pd.Series:
    """Request times as UTC datetimes (naive ones taken as UTC), missing ones dropped."""
    times = pd.to_datetime(timestamps)
    times = times.dt.tz_localize("UTC") if times.dt.tz is None else times.dt.tz_convert("UTC")
    return times.dropna()


def judge_hourly_count(requests: int, previous: np.ndarray) -> UsageVerdict:
    """Flag `requests` when it leaves [min / 2, 2 * max] of `previous` and is improbable as
    Poisson noise around their mean (see the module docstring for why both)."""
    previous = np.asarray(previous, dtype=np.float64)
    if previous.size == 0:
        raise ValueError("no earlier days to compare with: days must be at least 1")
    mean = float(previous.mean())
    low, high = float(previous.min()) / 2, 2 * float(previous.max())
    if mean == 0:
        return UsageVerdict("no_baseline", False, low, high, np.nan)
    below = float(stats.poisson.cdf(requests, mean))
    above = float(stats.poisson.sf(requests - 1, mean))
    if requests < low and below < USAGE_ALPHA:
        return UsageVerdict("below", True, low, high, below)
    if requests > high and above < USAGE_ALPHA:
        return UsageVerdict("above", True, low, high, above)
    return UsageVerdict("normal", False, low, high, min(below, above))


def compare_hourly_usage(timestamps: pd.Series, now: pd.Timestamp, days: int = 7) -> UsageReport:
    """Requests in the last full hour before `now` against the same hour on each of the
    previous `days` days.

    Days with no requests in the log count as zero: if the log starts later than `days` ago,
    shorten `days`. Without any earlier request the status is "no_baseline", never a flag.
    """
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    hour_end = as_utc(now).floor("h")
    hour_start = hour_end - HOUR
    times = utc_times(timestamps)
    starts = [hour_start - k * DAY for k in range(days + 1)]
    counts = [int(((times >= start) & (times < start + HOUR)).sum()) for start in starts]
    previous = np.array(counts[1:])
    return UsageReport(
        hour_start=hour_start,
        hour_end=hour_end,
        requests=counts[0],
        previous=tuple(counts[1:]),
        mean=float(previous.mean()),
        minimum=int(previous.min()),
        maximum=int(previous.max()),
        verdict=judge_hourly_count(counts[0], previous),
    )
