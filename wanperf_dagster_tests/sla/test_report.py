"""A month against the contracts, to the second: outages from port events and a gateway going
offline, a maintenance window left out, the credit of a missed SLA, a circuit without a contract
and a contract without data both listed."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from wanperf_dagster.sla import circuit_sla, outages, provider_sla
from wanperf_dagster.sla.report import NO_CONTRACT

START = dt.datetime(2025, 11, 1, tzinfo=dt.UTC).timestamp()
END = dt.datetime(2025, 12, 1, tzinfo=dt.UTC).timestamp()
A, B, C, D = "aa0000000001:ge-0/0/0", "bb0000000002:ge-0/0/0", "cc0000000003:lte0", "dd:none"


def at(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def _events():
    rows = [
        (at("2025-11-01 00:05:00"), B, None, "up"),  # down since before the month
        (at("2025-11-03 10:00:00"), A, None, "down"),
        (at("2025-11-03 10:47:13"), A, None, "up"),
        (at("2025-11-10 02:00:00"), A, None, "down"),  # inside the maintenance window
        (at("2025-11-10 04:00:00"), A, None, "up"),
        (at("2025-11-20 12:00:00"), None, "aa0000000001", "offline"),  # A's gateway dark
        (at("2025-11-20 12:10:00"), None, "aa0000000001", "online"),
        (at("2025-11-30 23:00:00"), C, None, "down"),  # still down at the month's end
        (at("2025-11-30 23:30:00"), C, None, "down"),  # repeated: one outage
    ]
    return pd.DataFrame(rows, columns=["ts", "circuit_id", "mac", "event"])


def _daily():
    down = {A: {3: 2833, 10: 7200, 20: 600}, B: {1: 300}, C: {30: 3600}}
    rows = [
        {
            "day": dt.date(2025, 11, d),
            "circuit_id": cid,
            "site_id": "site-" + cid[:2],
            "site_name": "SITE-" + cid[:2].upper(),
            "observed_seconds": 86400,
            "down_seconds": down[cid].get(d, 0),
            "util_p95_pct": 42.0,
        }
        for cid in (A, B, C)
        for d in range(1, 31)
    ]
    return pd.DataFrame(rows)


CONTRACTS = pd.DataFrame(
    [
        (A, "Lumen", "LX-1", 1000.0, 99.9, 5.0, 50.0),
        (B, "Verizon", None, 500.0, 99.5, 0.0, None),
        (D, "Lumen", "LX-9", 100.0, 99.9, 5.0, None),
    ],
    columns=[
        "circuit_id",
        "provider",
        "reference",
        "bandwidth_mbps",
        "availability_pct",
        "credit_pct_per_0_1",
        "credit_cap_pct",
    ],
)
MAINTENANCE = pd.DataFrame(
    [(A, at("2025-11-10 01:30").timestamp(), at("2025-11-10 04:30").timestamp(), "splice")],
    columns=["circuit_id", "start", "end", "reason"],
)


def test_outages_to_the_second_from_ports_and_gateways():
    found = outages(_events(), [A, B, C], START, END).set_index(["circuit_id", "start"])
    assert len(found) == 5
    assert found.loc[(A, at("2025-11-03 10:00").timestamp()), "seconds"] == 2833
    assert found.loc[(A, at("2025-11-20 12:00").timestamp()), "seconds"] == 600
    began = found.loc[(B, START)]
    assert began["seconds"] == 300 and began["began_before"]
    still = found.loc[(C, at("2025-11-30 23:00").timestamp())]
    assert still["seconds"] == 3600 and still["still_down"]


def test_a_missed_sla_with_its_credit_and_maintenance_left_out():
    report, _ = circuit_sla(_daily(), _events(), CONTRACTS, MAINTENANCE, START, END)
    report = report.set_index("circuit_id")
    a = report.loc[A]
    counted = 30 * 86400 - 3 * 3600  # the month less the 3-hour window
    assert a["maintenance_seconds"] == 3 * 3600 and a["down_in_maintenance_seconds"] == 7200
    assert a["availability_pct"] == pytest.approx(100 * (1 - (2833 + 600) / counted), abs=1e-12)
    assert a["met"] is False and a["shortfall_pct"] == pytest.approx(99.9 - a["availability_pct"])
    assert a["credit_pct"] == 5.0  # one started 0.1 % below: one step
    assert a["outages"] == 3 and a["events_down_seconds"] == 2833 + 7200 + 600
    b = report.loc[B]
    assert b["met"] is True and b["credit_pct"] == 0 and b["outages"] == 1
    assert a["capacity"] == "sized" and a["util_p95_pct"] == 42.0
    c, d = report.loc[C], report.loc[D]
    assert c["provider"] == NO_CONTRACT and c["met"] is None and c["outages"] == 1
    assert d["provider"] == "Lumen" and np.isnan(d["availability_pct"]) and d["met"] is None
    assert d["site_id"] is None and d["site_name"] is None  # unknown, not "nan"


def test_the_credit_is_capped_and_steps_by_each_started_tenth():
    daily = _daily()
    daily.loc[
        (daily["circuit_id"] == A) & (daily["day"] == dt.date(2025, 11, 3)), "down_seconds"
    ] = 86400
    report, _ = circuit_sla(daily, _events().iloc[:0], CONTRACTS, MAINTENANCE.iloc[:0], START, END)
    a = report.set_index("circuit_id").loc[A]
    # a day, 2 hours and 10 minutes down of 30 days: 96.37 %, 3.53 % short: 36 steps,
    # capped at 50 %
    assert a["availability_pct"] == pytest.approx(100 * (1 - 94200 / (30 * 86400)))
    assert a["credit_pct"] == 50.0
    uncapped = CONTRACTS.assign(credit_cap_pct=None)
    report, _ = circuit_sla(daily, _events().iloc[:0], uncapped, MAINTENANCE.iloc[:0], START, END)
    assert report.set_index("circuit_id").loc[A, "credit_pct"] == 36 * 5.0


def test_each_providers_month():
    report, _ = circuit_sla(_daily(), _events(), CONTRACTS, MAINTENANCE, START, END)
    providers = provider_sla(report).set_index("provider")
    lumen = providers.loc["Lumen"]
    assert (lumen["circuits"], lumen["missed_sla"], lumen["no_data"]) == (2, 1, 1)
    assert lumen["credits_owed"] == 1 and lumen["down_seconds"] == 2833 + 600
    assert providers.loc["Verizon", "missed_sla"] == 0
    assert providers.loc[NO_CONTRACT, "circuits"] == 1


def test_contracted_against_used_by_the_months_p95():
    daily = _daily()
    daily.loc[daily["circuit_id"] == A, "util_p95_pct"] = 5.0
    daily.loc[daily["circuit_id"] == B, "util_p95_pct"] = 85.0
    daily.loc[
        (daily["circuit_id"] == B) & (daily["day"] == dt.date(2025, 11, 2)), "util_p95_pct"
    ] = 20.0  # one quiet day does not hide a busy month
    report, _ = circuit_sla(daily, _events(), CONTRACTS, MAINTENANCE, START, END)
    report = report.set_index("circuit_id")
    assert report.loc[A, "capacity"] == "downsize?" and report.loc[B, "capacity"] == "upgrade?"
    assert pd.isna(report.loc[D, "capacity"])  # no data: no advice


def test_quality_targets_against_the_months_p95():
    daily = _daily().assign(latency_p95_ms=40.0, jitter_p95_ms=5.0, loss_p95_pct=0.2)
    busy = (daily["circuit_id"] == B) & (daily["day"] >= dt.date(2025, 11, 20))
    daily.loc[busy, "latency_p95_ms"] = 180.0  # a third of B's month slow: its p95 is over
    contracts = CONTRACTS.assign(latency_ms=50.0, jitter_ms=None, loss_pct=[0.5, None, None])
    report, _ = circuit_sla(daily, _events(), contracts, MAINTENANCE, START, END)
    report = report.set_index("circuit_id")
    a, b = report.loc[A], report.loc[B]
    assert a["latency_p95_ms"] == 40.0 and a["latency_target_ms"] == 50.0
    assert a["quality_met"] is True  # latency and loss both under target
    assert b["latency_p95_ms"] == pytest.approx(180.0) and b["quality_met"] is False
    assert report.loc[C, "quality_met"] is None  # no contract, no target
    assert report.loc[D, "quality_met"] is None  # targets, but no data
