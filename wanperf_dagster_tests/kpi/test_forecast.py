"""The capacity forecast (`kpi.capacity_forecast`) on synthetic histories whose answer is known:
a steady rise with spikes, a few days' history, a flat line with one spike, a stale circuit."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from wanperf_dagster.kpi import capacity_forecast

END = dt.date(2026, 11, 30)


def _series(circuit: str, values, end=END) -> pd.DataFrame:
    days = [end - dt.timedelta(days=len(values) - 1 - k) for k in range(len(values))]
    return pd.DataFrame({"circuit_id": circuit, "day": days, "util_p95_pct": values})


def test_a_steady_rise_is_found_through_noise_and_spikes():
    """13 months rising 0.1 point a day from 30 %, noise of a few points, a spike to 95 % one
    day a month: the slope, the level now and the days to 80 % come out; the spikes do not pull
    them (least squares on these days would)."""
    rng = np.random.default_rng(4)
    n = 395
    values = 30 + 0.1 * np.arange(n) + rng.normal(0, 2, n)
    values[::30] = 95.0
    out = capacity_forecast(_series("c1", values), END).iloc[0]
    assert out["forecast"] == "rising" and out["history_days"] == n
    assert out["slope_per_day"] == pytest.approx(0.1, abs=0.005)
    assert out["slope_low_per_day"] < 0.1 < out["slope_high_per_day"]
    level = 30 + 0.1 * (n - 1)
    assert out["level_pct"] == pytest.approx(level, abs=1.5)
    assert out["days_to_threshold"] == pytest.approx((80 - level) / 0.1, abs=20)
    assert (
        out["days_to_threshold_earliest"]
        < out["days_to_threshold"]
        < out["days_to_threshold_latest"]
    )
    least_squares = np.polyfit(np.arange(n), values, 1)[0]
    assert abs(least_squares - 0.1) > abs(out["slope_per_day"] - 0.1)


def test_a_few_days_are_insufficient_history():
    """The demo's case: daily p95 of 24, 34, 85, 34 said 'crossing 80 % within 90 days'."""
    out = capacity_forecast(_series("demo", [24.0, 34.0, 85.0, 34.0]), END).iloc[0]
    assert out["forecast"] == "insufficient history"
    assert np.isnan(out["days_to_threshold"]) and np.isnan(out["slope_per_day"])
    out = capacity_forecast(_series("short", 40 + 0.5 * np.arange(27)), END).iloc[0]
    assert out["forecast"] == "insufficient history"


def test_one_spike_on_a_flat_line_is_not_a_trend():
    values = np.full(60, 40.0)
    values[-2] = 99.0
    out = capacity_forecast(_series("flat", values), END).iloc[0]
    assert out["forecast"] == "not rising" and out["slope_per_day"] == pytest.approx(0.0)
    assert out["level_pct"] == pytest.approx(40.0) and np.isnan(out["days_to_threshold"])


def test_stale_falling_and_already_above_are_said_as_such():
    frames = [
        _series("stale", 30 + 0.2 * np.arange(60), end=END - dt.timedelta(days=30)),
        _series("falling", 70 - 0.2 * np.arange(60)),
        _series("above", 82 + 0.05 * np.arange(60)),
    ]
    out = capacity_forecast(pd.concat(frames), END).set_index("circuit_id")
    assert out.loc["stale", "forecast"] == "no recent data"
    assert np.isnan(out.loc["stale", "days_to_threshold"])
    assert out.loc["falling", "forecast"] == "not rising"
    assert out.loc["above", "forecast"] == "above threshold"
    assert np.isnan(out.loc["above", "days_to_threshold"])


def test_many_circuits_at_once_match_one_at_a_time():
    rng = np.random.default_rng(9)
    frames = [
        _series(f"c{k}", 20 + rng.uniform(-0.1, 0.3) * np.arange(90) + rng.normal(0, 3, 90))
        for k in range(40)
    ]
    together = capacity_forecast(pd.concat(frames), END).set_index("circuit_id")
    for frame in frames[:5]:
        alone = capacity_forecast(frame, END).iloc[0]
        got = together.loc[alone["circuit_id"]]
        assert got["slope_per_day"] == pytest.approx(alone["slope_per_day"])
        assert got["forecast"] == alone["forecast"]
