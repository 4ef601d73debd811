"""Rollups weight correctly: availability from observed and down time, averages by samples, maxima as maxima."""

import datetime as dt

import pandas as pd
import pytest

from wanperf_dagster.kpi import (
    KpiConfig,
    chronic_offenders,
    circuit_trends,
    daily_circuit_kpis,
    org_daily_kpis,
    org_offender_rows,
    period_circuit_kpis,
    region_daily_kpis,
    site_daily_kpis,
    top_offenders,
    window_kpis,
    with_orgs,
)

from .helpers import samples


def _day(day: str, rows):
    return samples(rows, day=day)


def test_site_region_org_availability_from_minutes_not_mean_of_percentages():
    rows = [
        {"minute": m, "circuit": "aa:ge-0/0/0", "site": "s1", "region": "EMEA"}
        for m in range(0, 1440, 10)
    ]
    rows += [
        {"minute": m, "circuit": "bb:ge-0/0/0", "site": "s2", "region": "EMEA", "up": m >= 60}
        for m in range(0, 120, 10)
    ]  # 60 up, 60 down, rest unknown
    daily = daily_circuit_kpis(samples(rows), 10)
    region = region_daily_kpis(daily).iloc[0]
    # mean of percentages would say (100 + 50) / 2 = 75; minutes say 1500 / 1560
    assert region.availability_pct == pytest.approx(1500 / 1560 * 100)
    assert region.circuits == 2 and region.circuits_down == 1
    assert region.unknown_minutes == 2 * 1440 - 1560
    assert region.coverage_pct == pytest.approx(1560 / 2880 * 100)
    site = site_daily_kpis(daily).set_index("site_id")
    assert site.loc["s2"].availability_pct == pytest.approx(50.0)
    org = org_daily_kpis(daily).iloc[0]
    assert org.up_minutes == 1500 and org.availability_pct == pytest.approx(region.availability_pct)


def test_rollups_weigh_exact_event_seconds_and_read_rows_stored_before_them():
    rows = [{"minute": m, "circuit": "aa:ge-0/0/0", "site": "s1"} for m in range(0, 1440, 10)]
    rows += [
        {"minute": m, "circuit": "bb:ge-0/0/0", "site": "s2", "up": m != 600}
        for m in range(0, 1440, 10)
    ]
    daily = daily_circuit_kpis(samples(rows), 10)
    sampled = org_daily_kpis(daily).iloc[0]
    assert sampled.down_seconds == 600 and sampled.observed_seconds == 2 * 86400
    # port events say aa bounced for 7 s between samples and bb was down 61 s, not 10 minutes
    exact = daily.set_index("circuit_id")
    exact.loc["aa:ge-0/0/0", ["down_seconds", "observed_seconds"]] = [7, 86400]
    exact.loc["bb:ge-0/0/0", ["down_seconds", "observed_seconds"]] = [61, 86400]
    exact = exact.reset_index()
    org = org_daily_kpis(exact).iloc[0]
    assert org.availability_pct == pytest.approx((2 * 86400 - 68) / (2 * 86400) * 100)
    assert org.down_minutes == 10 and org.coverage_pct == pytest.approx(100.0)  # still sampled
    assert org.circuits_down == 2  # the bounce the samples missed counts
    weekly = period_circuit_kpis(exact, "W").set_index("circuit_id")
    assert weekly.loc["bb:ge-0/0/0"].availability_pct == pytest.approx((86400 - 61) / 864)
    # rows stored before the seconds existed roll up from their minutes
    old = daily.drop(columns=["down_seconds", "observed_seconds"])
    before = org_daily_kpis(old).iloc[0]
    assert before.availability_pct == pytest.approx(sampled.availability_pct)
    assert before.availability_pct == pytest.approx((2 * 1440 - 10) / (2 * 1440) * 100)
    # a load across both: the older row's seconds are null, and come from its minutes
    mixed = exact.astype({"down_seconds": "Int64", "observed_seconds": "Int64"})
    mixed.loc[mixed["circuit_id"] == "bb:ge-0/0/0", ["down_seconds", "observed_seconds"]] = pd.NA
    both = org_daily_kpis(mixed).iloc[0]
    assert both.down_seconds == 7 + 600 and both.observed_seconds == 2 * 86400
    assert both.availability_pct == pytest.approx((2 * 86400 - 607) / (2 * 86400) * 100)


def test_weighted_utilisation_and_error_rate_from_sums():
    rows = [{"minute": m, "circuit": "aa:ge-0/0/0", "rx_bps": 10_000_000} for m in range(0, 30, 10)]
    rows += [{"minute": 0, "circuit": "bb:ge-0/0/0", "site": "s2", "rx_bps": 90_000_000}]
    daily = daily_circuit_kpis(samples(rows), 10)
    org = org_daily_kpis(daily).iloc[0]
    assert org.util_avg_pct == pytest.approx((3 * 10 + 90) / 4)
    assert org.util_max_pct == 90.0
    assert org.circuits_above_90 == 1


def test_weekly_and_monthly_periods():
    frames = []
    for day in ("2026-11-29", "2026-11-30", "2026-12-01"):  # Sunday, Monday, Tuesday
        frames.append(
            _day(
                day,
                [
                    {"minute": m, "up": not (day == "2026-11-30" and m < 60)}
                    for m in range(0, 1440, 10)
                ],
            )
        )
    daily = daily_circuit_kpis(pd.concat(frames, ignore_index=True), 10)
    given = daily.copy()
    weekly = period_circuit_kpis(daily, "W").set_index("period_start")
    pd.testing.assert_frame_equal(daily, given)  # the caller's frame is left as it was
    assert list(weekly.index) == [dt.date(2026, 11, 23), dt.date(2026, 11, 30)]
    assert weekly.loc[dt.date(2026, 11, 30)].period_days == 2
    assert weekly.loc[dt.date(2026, 11, 30)].down_minutes == 60
    assert weekly.loc[dt.date(2026, 11, 30)].availability_pct == pytest.approx(
        (2880 - 60) / 2880 * 100
    )
    monthly = period_circuit_kpis(daily, "M").set_index("period_start")
    assert list(monthly.index) == [dt.date(2026, 11, 1), dt.date(2026, 12, 1)]
    assert monthly.loc[dt.date(2026, 11, 1)].up_minutes == 2880 - 60
    with pytest.raises(ValueError):
        period_circuit_kpis(daily, "Q")


def test_operational_windows_and_current_state():
    rows = [
        {"minute": m, "rx_bps": 95_000_000 if m >= 1380 else 10_000_000} for m in range(0, 1440, 10)
    ]
    rows[-1]["up"] = False
    w = window_kpis(samples(rows), 10).set_index("window_hours")
    assert list(w.index) == [3, 12, 24]
    assert w.loc[3].samples == 18 and w.loc[24].samples == 144
    assert w.loc[3].minutes_above_90 == 50
    assert w.loc[3].down_minutes == 10
    assert not w.loc[3].up_now and pd.isna(w.loc[3].util_now_pct)
    assert w.loc[3].window_end == pd.Timestamp("2026-11-27", tz="UTC")


def test_top_offenders_direction():
    daily = pd.DataFrame(
        {
            "circuit_id": ["a", "b", "c", "d"],
            "availability_pct": [99.0, 50.0, None, 75.0],
            "util_p95_pct": [10.0, 95.0, 80.0, 40.0],
        }
    )
    assert list(top_offenders(daily, "availability_pct", 2)["circuit_id"]) == ["b", "d"]
    top = top_offenders(daily, "util_p95_pct", 3)
    assert list(top["circuit_id"]) == ["b", "c", "d"] and list(top["rank"]) == [1, 2, 3]
    with pytest.raises(KeyError):
        top_offenders(daily, "nope")


def _daily_series(values, kpi="util_p95_pct"):
    days = pd.date_range("2026-11-01", periods=len(values)).date
    return pd.DataFrame(
        {"day": days, "circuit_id": "c1", "site_id": "s1", "region": "EMEA", kpi: values}
    )


def test_chronic_offenders_k_of_n():
    daily = _daily_series([95, 40, 96, 97, 20, 91, 93])
    out = chronic_offenders(daily, "util_p95_pct", 90, k=4, n=7)
    assert len(out) == 1 and out.iloc[0].days_breached == 5 and out.iloc[0].worst == 97
    assert chronic_offenders(daily, "util_p95_pct", 90, k=4, n=3).empty  # last 3 days: 2 breaches
    avail = _daily_series([99, 90, 91, 100], kpi="availability_pct")
    assert chronic_offenders(avail, "availability_pct", 95, k=2, n=4).iloc[0].days_breached == 2


def test_trends_rising_falling_stable_and_congested():
    rising = _daily_series([60, 65, 70, 75, 80])
    falling = _daily_series([80, 70, 60, 50, 40]).assign(circuit_id="c2")
    stable = _daily_series([50, 50.5, 50, 49.5, 50]).assign(circuit_id="c3")
    short = _daily_series([10, 90]).assign(circuit_id="c4")
    out = circuit_trends(pd.concat([rising, falling, stable, short]), days=7).set_index(
        "circuit_id"
    )
    assert out.loc["c1"].trend == "rising" and out.loc["c1"].slope_per_day == pytest.approx(5.0)
    assert out.loc["c1"].congested_and_rising
    assert out.loc["c2"].trend == "falling" and not out.loc["c2"].congested_and_rising
    assert out.loc["c3"].trend == "stable"
    assert out.loc["c4"].trend == "insufficient data"
    assert out.index[0] == "c1"  # congested and rising first
    cfg = KpiConfig(region_util_thresholds={"EMEA": (85.0, 90.0, 95.0)})
    assert not circuit_trends(rising, config=cfg).iloc[0].congested_and_rising


def test_orgs_roll_up_apart_and_the_msp_over_them():
    """Each org's row from its own sites only; the MSP's row from all; offenders per org never
    name another org's circuit, and a site the inventory does not know is org `unknown`."""
    rows = [
        {"minute": m, "circuit": f"{c}:ge-0/0/0", "site": s, "region": "EMEA", "up": up(m)}
        for c, s, up in (
            ("aa", "s1", lambda m: True),
            ("bb", "s2", lambda m: m >= 60),  # an hour down
            ("cc", "s3", lambda m: m % 120 >= 10),  # down 10 minutes every two hours
            ("dd", "s9", lambda m: True),  # not in the inventory
        )
        for m in range(0, 1440, 10)
    ]
    daily = daily_circuit_kpis(samples(rows), 10)
    sites = pd.DataFrame(
        {
            "site_id": ["s1", "s2", "s3"],
            "org_id": ["o1", "o1", "o2"],
            "org_name": ["One", "One", "Two"],
        }
    )
    tagged = with_orgs(daily, sites)
    assert dict(zip(tagged["site_id"], tagged["org_id"], strict=True))["s9"] == "unknown"
    orgs = org_daily_kpis(tagged).set_index("org_name")
    assert list(orgs["scope"]) == ["org", "org", "org", "msp"]
    assert (
        orgs.loc["One", "down_seconds"]
        == daily[daily["site_id"].isin(["s1", "s2"])]["down_seconds"].sum()
    )
    assert orgs.loc["Two", "circuits"] == 1 and orgs.loc["Two", "circuits_down"] == 1
    whole = org_daily_kpis(daily).iloc[0]  # the MSP's row is the rollup of everything
    assert orgs.loc["all orgs", "availability_pct"] == pytest.approx(whole["availability_pct"])
    assert orgs.loc["all orgs", "circuits"] == 4
    regions = region_daily_kpis(tagged)
    assert set(zip(regions["org_id"], regions["region"], strict=True)) == {
        ("o1", "EMEA"),
        ("o2", "EMEA"),
        ("unknown", "EMEA"),
    }
    worst, _ = org_offender_rows(tagged, ["availability_pct", "flaps"], 5)
    for (scope, org), part in worst.groupby(["scope", "org_id"]):
        allowed = {
            "o1": {"s1", "s2"},
            "o2": {"s3"},
            "unknown": {"s9"},
            "": {"s1", "s2", "s3", "s9"},
        }
        assert set(part["site_id"]) <= allowed[org], (scope, org)
    assert set(worst[worst["scope"] == "msp"]["site_id"]) == {"s2", "s3"}
    # one org: its row and no MSP row
    alone = org_daily_kpis(with_orgs(daily[daily["site_id"].isin(["s1", "s2"])], sites))
    assert list(alone["scope"]) == ["org"] and list(alone["org_name"]) == ["One"]


def test_a_period_of_some_sites_at_a_time_equals_all_at_once():
    """The month rollup reads a slice of the sites at a time (memory): with the org's days as
    the span, each circuit's row is the one of the whole at once, a day a slice lacks included."""
    rows = [
        {"minute": m, "circuit": f"{c}:ge-0/0/0", "site": s, "region": "EMEA", "up": m % 7 != 0}
        for c, s in (("aa", "s1"), ("bb", "s2"), ("cc", "s3"))
        for m in range(0, 1440, 10)
    ]
    days = [
        daily_circuit_kpis(samples(rows), 10).assign(day=dt.date(2025, 11, d)) for d in (3, 4, 5)
    ]
    whole = pd.concat(days, ignore_index=True)
    whole = whole[~((whole["site_id"] == "s3") & (whole["day"] == dt.date(2025, 11, 5)))]
    at_once = period_circuit_kpis(whole, "M").sort_values("circuit_id").reset_index(drop=True)
    held = sorted(set(whole["day"]))
    sliced = pd.concat(
        [
            period_circuit_kpis(whole[whole["site_id"].isin(part)], "M", span_days=held)
            for part in (["s1", "s2"], ["s3"])
        ],
        ignore_index=True,
    )
    pd.testing.assert_frame_equal(sliced.sort_values("circuit_id").reset_index(drop=True), at_once)
    # without the org's days, the slice lacking a day would count a shorter month
    alone = period_circuit_kpis(whole[whole["site_id"] == "s3"], "M")
    assert int(alone["period_days"].iloc[0]) == 2 and int(at_once["period_days"].iloc[0]) == 3
