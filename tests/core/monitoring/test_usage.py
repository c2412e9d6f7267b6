"""Usage: the last full hour against the same hour on earlier days, on seeded Poisson traffic."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mleng.monitoring.usage import compare_hourly_usage, judge_hourly_count

NOW = pd.Timestamp("2026-03-10 14:37", tz="UTC")
SIMULATIONS = 1_000


def request_times(rng: np.random.Generator, per_hour: np.ndarray, start: pd.Timestamp):
    """Request timestamps spread uniformly over consecutive hours from `start`."""
    hours = np.repeat(np.arange(len(per_hour)), per_hour)
    seconds = (hours + rng.random(len(hours))) * 3600.0
    return pd.Series(start + pd.to_timedelta(seconds, unit="s"))


def test_counts_the_last_full_hour_and_the_same_hour_on_earlier_days():
    rng = np.random.default_rng(0)
    start = pd.Timestamp("2026-03-02 00:00", tz="UTC")
    per_hour = np.full(24 * 9, 100)
    per_hour[24 * 8 + 13] = 7  # today 13:00-14:00: the last full hour before 14:37
    per_hour[24 * 7 + 13] = 120  # yesterday's same hour
    report = compare_hourly_usage(request_times(rng, per_hour, start), NOW, days=7)
    assert report.hour_start == pd.Timestamp("2026-03-10 13:00", tz="UTC")
    assert report.hour_end == pd.Timestamp("2026-03-10 14:00", tz="UTC")
    assert report.requests == 7
    assert report.previous == (120, 100, 100, 100, 100, 100, 100)
    assert (report.minimum, report.maximum) == (100, 120)
    assert report.mean == pytest.approx(720 / 7)
    assert report.flagged and report.verdict.status == "below"


def test_naive_and_other_time_zones_are_read_as_utc():
    times = pd.Series(pd.to_datetime(["2026-03-10 13:30", "2026-03-09 13:10"]))
    berlin = times.dt.tz_localize("UTC").dt.tz_convert("Europe/Berlin")
    for series in (times, berlin):
        report = compare_hourly_usage(series, pd.Timestamp("2026-03-10 14:05"), days=1)
        assert (report.requests, report.previous) == (1, (1,))


@pytest.mark.parametrize("rate", [20, 200, 2_000])
def test_a_drop_to_a_tenth_of_normal_traffic_is_flagged(rate):
    rng = np.random.default_rng(rate)
    previous = rng.poisson(rate, (SIMULATIONS, 7))
    current = rng.poisson(rate / 10, SIMULATIONS)
    verdicts = [judge_hourly_count(int(c), p) for c, p in zip(current, previous, strict=True)]
    flagged = np.mean([v.flagged and v.status == "below" for v in verdicts])
    print(f"drop to 10% at {rate}/hour: flagged in {flagged:.3f} of {SIMULATIONS}")
    assert flagged >= (0.95 if rate == 20 else 1.0)


def test_a_surge_to_five_times_normal_traffic_is_flagged():
    rng = np.random.default_rng(1)
    previous = rng.poisson(100, (SIMULATIONS, 7))
    current = rng.poisson(500, SIMULATIONS)
    verdicts = [judge_hourly_count(int(c), p) for c, p in zip(current, previous, strict=True)]
    assert all(v.flagged and v.status == "above" for v in verdicts)


@pytest.mark.parametrize("rate", [1, 5, 50, 1_000])
@pytest.mark.parametrize("day_to_day", [0.0, 0.2])
def test_ordinary_variation_is_not_flagged(rate, day_to_day):
    """Poisson noise, and on top of it days differing by 20% (lognormal), as real traffic does."""
    rng = np.random.default_rng(rate)
    level = rate * rng.lognormal(0.0, day_to_day, (SIMULATIONS, 8))
    counts = rng.poisson(level)
    flagged = np.mean([judge_hourly_count(int(row[0]), row[1:]).flagged for row in counts])
    print(f"ordinary traffic at {rate}/hour, day-to-day sd {day_to_day}: flagged {flagged:.3f}")
    assert flagged <= 0.05


def test_no_earlier_traffic_is_no_baseline_rather_than_an_alarm():
    times = pd.Series(pd.to_datetime(["2026-03-10 13:15"], utc=True))
    report = compare_hourly_usage(times, NOW)
    assert (report.verdict.status, report.flagged) == ("no_baseline", False)
    assert report.previous == (0,) * 7
    with pytest.raises(ValueError, match="days must be at least 1"):
        compare_hourly_usage(times, NOW, days=0)
