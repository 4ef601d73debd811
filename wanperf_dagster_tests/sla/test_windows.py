"""Business-hours SLAs: the window a contract names, in its time zone across a DST change, and a
month's availability counted inside it only (an outage at night costs nothing)."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from wanperf_dagster.sla import circuit_sla, parse_window, with_forecast
from wanperf_dagster.sla.contracts import CONTRACT_COLUMNS

START = dt.datetime(2025, 10, 1, tzinfo=dt.UTC).timestamp()
END = dt.datetime(2025, 11, 1, tzinfo=dt.UTC).timestamp()
A, B = "aa0000000001:ge-0/0/0", "bb0000000002:ge-0/0/0"


def at(text: str) -> float:
    return pd.Timestamp(text, tz="UTC").timestamp()


def test_a_window_is_parsed_or_refused_with_the_reason():
    w = parse_window("Mon-Fri 08:00-18:00", "Europe/Paris")
    assert w.weekdays == frozenset(range(5)) and (w.start_minute, w.end_minute) == (480, 1080)
    assert w.label == "Mon,Tue,Wed,Thu,Fri 08:00-18:00"
    assert parse_window("sat,sun 10:00-14:00", None).weekdays == frozenset({5, 6})
    assert parse_window("Fri-Mon 09:00-17:00", "UTC").weekdays == frozenset({4, 5, 6, 0})
    assert parse_window("", "UTC") is None and parse_window("calendar month", None) is None
    for text, zone, says in [
        ("weekdays 8-18", "UTC", "is not like"),
        ("Mon-Fri 18:00-08:00", "UTC", "overnight"),
        ("Mon-Fri 08:00-25:00", "UTC", "not on a clock"),
        ("Mon-Frx 08:00-18:00", "UTC", "not a day"),
        ("Mon-Fri 08:00-18:00", "Mars/Olympus", "IANA"),
    ]:
        with pytest.raises(ValueError, match=says):
            parse_window(text, zone)


def test_the_windows_seconds_follow_the_local_clock_across_dst():
    w = parse_window("Mon-Fri 08:00-18:00", "Europe/Paris")
    spans = w.intervals(START, END)
    assert len(spans) == 23  # the weekdays of October 2025
    # 08:00 Paris is 06:00 UTC in summer time, 07:00 UTC after 26 October
    assert spans[0][0] == at("2025-10-01 06:00") and spans[-1][0] == at("2025-10-31 07:00")
    inside = w.inside(START, END)
    assert inside(START, END) == 23 * 10 * 3600
    # an outage from Friday 17:00 to Monday 09:00 Paris time costs two hours
    assert inside(at("2025-10-03 15:00"), at("2025-10-06 07:00")) == 2 * 3600
    assert inside(at("2025-10-04 00:00"), at("2025-10-05 23:59")) == 0  # a weekend
    got = inside(np.array([at("2025-10-01 05:00"), at("2025-10-01 06:30")]), at("2025-10-01 07:00"))
    assert list(got) == [3600, 1800]


def _hourly(down_at: dict[float, int]) -> pd.DataFrame:
    hours = np.arange(START, END, 3600)
    rows = [
        {
            "circuit_id": cid,
            "hour": pd.Timestamp(h, unit="s", tz="UTC"),
            "observed_seconds": 3600,
            "down_seconds": down_at.get(h, 0) if cid == A else 0,
        }
        for cid in (A, B)
        for h in hours
    ]
    return pd.DataFrame(rows)


def test_a_business_hours_sla_counts_only_its_hours():
    # A: down 02:00-05:00 UTC on Wed 1 Oct (night in Paris, UTC+2) and 08:00-08:30 UTC (10:00)
    night, morning = (
        (at("2025-10-01 02:00"), at("2025-10-01 05:00")),
        (
            at("2025-10-01 08:00"),
            at("2025-10-01 08:30"),
        ),
    )
    down_at = {at("2025-10-01 02:00"): 3600, at("2025-10-01 03:00"): 3600}
    down_at |= {at("2025-10-01 04:00"): 3600, at("2025-10-01 08:00"): 1800}
    hourly = _hourly(down_at)
    daily = (
        hourly.assign(day=hourly["hour"].dt.date, site_id="s", site_name="S", util_p95_pct=40.0)
        .groupby(["circuit_id", "day"], as_index=False)
        .agg(
            site_id=("site_id", "first"),
            site_name=("site_name", "first"),
            observed_seconds=("observed_seconds", "sum"),
            down_seconds=("down_seconds", "sum"),
            util_p95_pct=("util_p95_pct", "first"),
        )
    )
    events = pd.DataFrame(
        {
            "ts": pd.to_datetime([night[0], night[1], morning[0], morning[1]], unit="s", utc=True),
            "circuit_id": [A] * 4,
            "mac": [None] * 4,
            "event": ["down", "up", "down", "up"],
        }
    )
    terms = {c: None for c in CONTRACT_COLUMNS}
    contracts = pd.DataFrame(
        [
            terms
            | {"circuit_id": A, "provider": "Lumen", "availability_pct": 99.9}
            | {"window": "Mon,Tue,Wed,Thu,Fri 08:00-18:00", "timezone": "Europe/Paris"},
            terms
            | {"circuit_id": B, "provider": "Lumen", "availability_pct": 99.9}
            | {"window": "calendar month", "timezone": "UTC"},
        ]
    )
    # maintenance from 05:50 to 08:10 UTC: business time from 06:00 (08:00 in Paris), 2 h 10 min
    # of it, and the outage's first 10 minutes
    maintenance = pd.DataFrame(
        [(A, at("2025-10-01 05:50"), at("2025-10-01 08:10"), "splice")],
        columns=["circuit_id", "start", "end", "reason"],
    )
    report, found = circuit_sla(daily, events, contracts, maintenance, START, END, hourly=hourly)
    a = report.set_index("circuit_id").loc[A]
    business = 23 * 10 * 3600
    assert a["window"] == "Mon,Tue,Wed,Thu,Fri 08:00-18:00 Europe/Paris"
    assert a["observed_seconds"] == business and a["down_seconds"] == 1800
    assert a["maintenance_seconds"] == 7800 and a["down_in_maintenance_seconds"] == 600
    assert a["availability_pct"] == pytest.approx(100 * (1 - 1200 / (business - 7800)))
    assert a["events_down_seconds"] == 1800  # the night's three hours are not counted
    counted = found.set_index("start")["counted_seconds"]
    assert counted[night[0]] == 0 and counted[morning[0]] == 1800
    assert report.set_index("circuit_id").loc[B, "window"] == "calendar month"
    # the same month counted over the calendar: the night's outage costs three hours
    calendar, _ = circuit_sla(
        daily, events, contracts.assign(window=None), maintenance.iloc[:0], START, END
    )
    assert calendar.set_index("circuit_id").loc[A, "down_seconds"] == 3 * 3600 + 1800


def test_the_forecast_beside_contracted_against_used():
    report = pd.DataFrame({"circuit_id": [A, B], "capacity": ["upgrade?", "sized"]})
    assert list(with_forecast(report, None)["forecast"]) == ["not computed"] * 2
    trends = pd.DataFrame({"circuit_id": [A], "forecast": ["rising"], "days_to_threshold": [41.5]})
    got = with_forecast(report, trends).set_index("circuit_id")
    assert got.loc[A, "forecast"] == "rising" and got.loc[A, "days_to_80_pct"] == 41.5
    assert got.loc[B, "forecast"] == "insufficient history" and np.isnan(
        got.loc[B, "days_to_80_pct"]
    )
