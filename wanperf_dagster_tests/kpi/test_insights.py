"""The insight KPIs as pure functions: SLE bands and days, path quality, and the site-day view
(exact down time from events: test_outages.py)."""

import numpy as np
import pandas as pd

from wanperf_dagster.feeds.paths.kpis import vpn_path_kpis
from wanperf_dagster.feeds.sle.kpis import site_sle_daily, site_sle_hourly
from wanperf_dagster.kpi import circuit_kpis
from wanperf_dagster.kpi.insights import site_wan_health, sle_band
from wanperf_dagster_tests.kpi.helpers import day_of_samples as _samples

D0 = 1_764_115_200  # 2025-11-26 00:00 UTC
DAY = 86400


def test_sle_bands_and_days():
    assert list(sle_band([0.95, 0.949, 0.80, 0.6, 0.59, np.nan])) == [
        "healthy",
        "fair",
        "fair",
        "degraded",
        "critical",
        np.nan,
    ]
    hours = pd.to_datetime(D0 + 3600 * np.arange(24), unit="s", utc=True)
    wan = np.full(24, 0.99)
    wan[7], wan[8] = 0.5, 0.1
    hourly = pd.DataFrame(
        {
            "hour": hours,
            "site_id": "s1",
            "gateway_health": 1.0,
            "wan_link_health": wan,
            "application_health": 0.97,
            "num_gateways": 1,
            "num_clients": np.arange(24),
        }
    )
    hourly.index = [0] * len(hourly)  # an index of repeated labels (a concat) reads the same
    day = site_sle_daily(hourly).iloc[0]
    assert day["hours"] == 24 and abs(day["wan_link_health"] - (22 * 0.99 + 0.6) / 24) < 1e-12
    assert day["wan_link_health_min"] == 0.1 and day["hours_below_fair"] == 2
    assert day["worst_hour"] == hours[8] and day["wan_link_health_band"] == "fair"
    assert day["num_clients_max"] == 23 and day["gateway_health_band"] == "healthy"
    hours_out = site_sle_hourly(hourly)
    assert len(hours_out) == 24 and hours_out["wan_link_health_band"].iloc[8] == "critical"
    assert hours_out["wan_link_health_band"].iloc[7] == "critical"  # 0.5: below 0.60
    assert hours_out["wan_link_health_band"].iloc[0] == "healthy"


def test_vpn_path_kpis():
    ts = pd.to_datetime(D0 + 600 * np.arange(6), unit="s", utc=True)
    samples = pd.DataFrame(
        {
            "ts": list(ts) + [ts[0]],  # a repeated slot counts once
            "site_id": "s1",
            "path_id": "p1",
            "circuit_id": "aa:ge-0/0/0",
            "peer_site_id": "hub",
            "type": "ipsec",
            "up": [True, True, True, False, True, True, True],
            "latency_ms": [10, 20, 200, None, 30, 40, 10],
            "jitter_ms": [1, 1, 1, None, 1, 60, 1],
            "loss_pct": [0, 0, 2, None, 0, 0, 0],
            "mos": [4.4, 4.4, 2.0, None, 4.3, 4.0, 4.4],
        }
    )
    row = vpn_path_kpis(samples, 10).iloc[0]
    assert row["samples"] == 6 and row["up_minutes"] == 50 and row["down_minutes"] == 10
    assert abs(row["availability_pct"] - 50 / 60 * 100) < 1e-9
    assert row["latency_max_ms"] == 200 and row["latency_avg_ms"] == (10 + 20 + 200 + 30 + 40) / 5
    assert row["latency_minutes_critical"] == 10 and row["latency_minutes_warn"] == 10
    assert row["jitter_minutes_critical"] == 10 and row["loss_minutes_critical"] == 10
    assert row["mos_min"] == 2.0


def test_site_wan_health_names_the_likely_cause():
    _, daily = circuit_kpis(_samples(down_slots=range(60, 66)), 10)
    sle = pd.DataFrame(
        {
            "day": daily["day"].iloc[0],
            "site_id": ["s1"],
            "site_name": ["S1"],
            "region": ["EMEA"],
            "wan_link_health": [0.7],
            "application_health": [0.9],
            "gateway_health": [1.0],
            "hours_below_fair": [2],
        }
    )
    paths = pd.DataFrame(
        {
            "day": [daily["day"].iloc[0]],
            "site_id": ["s1"],
            "path_id": ["p"],
            "down_minutes": [60],
            "loss_p95_pct": [0.1],
            "latency_p95_ms": [30.0],
            "mos_min": [4.1],
        }
    )
    view = site_wan_health(daily, sle, paths).iloc[0]
    assert view["likely_cause"] == "outage" and view["down_seconds"] == 3600
    assert view["wan_link_health_band"] == "degraded" and view["paths"] == 1
    healthy = site_wan_health(
        daily, sle.assign(wan_link_health=0.99, hours_below_fair=0), paths
    ).iloc[0]
    assert healthy["likely_cause"] == ""
    one_bad_hour = site_wan_health(daily, sle.assign(wan_link_health=0.99), paths).iloc[0]
    assert one_bad_hour["likely_cause"] == "outage"  # a healthy mean with an hour below fair
    lossy = site_wan_health(
        circuit_kpis(_samples(), 10)[1], sle, paths.assign(loss_p95_pct=3.0)
    ).iloc[0]
    assert lossy["likely_cause"] == "path quality"
