"""Hour-of-week baselines (pure maths) and their store by hour (real Redis)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wanperf_dagster.kpi.baselines import circuit_baselines, hour_of_week, upper_bound
from wanperf_dagster.storage import AssetStore

MONDAY = pd.Timestamp("2025-11-03", tz="UTC")


def _hourly(weeks: int, util_at_ten: list[float], latency: float = 20.0) -> pd.DataFrame:
    """One circuit's hourly rows over `weeks` weeks: 10 % everywhere, Mondays 10:00 as given."""
    hours = pd.date_range(MONDAY, periods=weeks * 168, freq="h")
    util = np.full(len(hours), 10.0)
    for week, value in enumerate(util_at_ten):
        util[week * 168 + 10] = value
    return pd.DataFrame(
        {
            "day": hours.strftime("%Y-%m-%d"),
            "hour": hours,
            "site_id": "s1",
            "circuit_id": "c1",
            "util_avg_pct": util,
            "latency_avg_ms": latency,
            "loss_avg_pct": np.nan,  # never reported: no loss baseline, never zero
        }
    )


def test_hours_of_the_week_count_from_monday_midnight_utc():
    assert hour_of_week(int(MONDAY.timestamp())) == 0
    assert hour_of_week(int(MONDAY.timestamp()) + 10 * 3600 + 59 * 60) == 10
    assert hour_of_week(int(MONDAY.timestamp()) - 1) == 167  # Sunday 23:59:59


def test_the_median_and_mad_shrug_off_one_odd_week():
    frame = circuit_baselines(_hourly(5, [80, 80, 5, 80, 80]), min_weeks=3)
    ten = frame[frame["how"] == 10].iloc[0]
    assert ten["weeks"] == 5 and ten["util_median"] == 80.0 and ten["util_mad"] == 0.0
    eleven = frame[frame["how"] == 11].iloc[0]
    assert eleven["util_median"] == 10.0 and eleven["latency_median"] == 20.0
    assert np.isnan(eleven["loss_median"])  # unknown stays unknown
    assert upper_bound(10.0, 0.0, 4.0, 15.0) == 25.0  # the floor where it never varies
    assert upper_bound(10.0, 10.0, 4.0, 15.0) == pytest.approx(10 + 4 * 1.4826 * 10)


def test_fewer_weeks_than_asked_is_learning_not_normal():
    frame = circuit_baselines(_hourly(2, [80, 80]), min_weeks=3)
    assert (frame["weeks"] == 2).all()
    assert frame[["util_median", "util_mad", "latency_median"]].isna().all().all()
    assert circuit_baselines(pd.DataFrame(), 3).empty


@pytest.mark.storage
def test_baselines_are_kept_by_hour_and_read_one_hour_for_the_sites_asked(redis_client):
    storage = AssetStore(redis_client)
    assert storage.baselines_at("org-b", 10) is None  # never learnt: not an empty "normal"
    one = circuit_baselines(_hourly(4, [80] * 4), 3)
    other = one.assign(site_id="s2", circuit_id="c2", util_median=one["util_median"] + 1)
    size = storage.save_baselines(
        "org-b", pd.concat([one, other]), {"through": "2025-11-30", "weeks": 4}
    )
    assert size > 0 and storage.baselines_built("org-b")["through"] == "2025-11-30"
    ten = storage.baselines_at("org-b", 10)
    assert sorted(ten["circuit_id"]) == ["c1", "c2"] and set(ten["how"]) == {10}
    mine = storage.baselines_at("org-b", 10, ["s2"])
    assert mine["circuit_id"].tolist() == ["c2"] and mine["util_median"].iloc[0] == 81.0
    # a rebuild replaces every hour: a circuit gone is gone from each
    storage.save_baselines("org-b", one, {"through": "2025-12-01", "weeks": 4})
    assert storage.baselines_at("org-b", 10)["circuit_id"].tolist() == ["c1"]


def test_the_sorted_medians_are_pandas_grouped_medians():
    """The numpy path against the plain pandas one, on random hours with gaps and nulls."""
    rng = np.random.default_rng(7)
    hours = pd.date_range(MONDAY, periods=5 * 168, freq="h")
    frames = []
    for c in range(6):
        keep = rng.random(len(hours)) > 0.3
        util = rng.gamma(2.0, 10.0, len(hours))
        util[rng.random(len(hours)) < 0.1] = np.nan
        frames.append(
            pd.DataFrame(
                {
                    "hour": hours[keep],
                    "site_id": f"s{c % 3}",
                    "circuit_id": f"c{c}",
                    "util_avg_pct": util[keep],
                    "latency_avg_ms": rng.normal(30, 5, keep.sum()),
                    "loss_avg_pct": np.nan,
                }
            )
        )
    hourly = pd.concat(frames, ignore_index=True)
    got = circuit_baselines(hourly, min_weeks=1).set_index(["circuit_id", "how"])
    seconds = (hourly["hour"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta("1s")
    plain = hourly.assign(how=hour_of_week(seconds))
    for metric, column in (("util", "util_avg_pct"), ("latency", "latency_avg_ms")):
        grouped = plain.dropna(subset=[column]).groupby(["circuit_id", "how"])[column]
        median = grouped.median()
        deviation = (plain[column] - plain.set_index(["circuit_id", "how"]).index.map(median)).abs()
        mad = deviation.groupby([plain["circuit_id"], plain["how"]]).median()
        pd.testing.assert_series_equal(
            got[f"{metric}_median"].dropna(),
            median.rename(f"{metric}_median"),
            check_index_type=False,
        )
        pd.testing.assert_series_equal(
            got[f"{metric}_mad"].dropna(),
            mad.dropna().rename(f"{metric}_mad"),
            check_index_type=False,
        )
    assert got["loss_median"].isna().all() and (got["weeks"] <= 5).all()
