"""The alert rules on hand-made samples: each condition trips exactly at its threshold and not one
interval before, a circuit that was not swept is not "now", and the primary's outage at a
two-circuit site opens `on_backup`."""

from __future__ import annotations

import pandas as pd
import pytest

from wanperf_dagster.alerts import AlertRules, open_incidents
from wanperf_dagster.kpi import KpiConfig

T0 = 1_764_115_200
INTERVAL = 10  # minutes


def _samples(circuit="aa:ge-0/0/1", site="s1", port="ge-0/0/1", n=12, **columns) -> pd.DataFrame:
    """n samples, 10 minutes apart, healthy unless a column is given as a list."""
    base = {
        "ts": [T0 + k * INTERVAL * 60 for k in range(n)],
        "site_id": [site] * n,
        "circuit_id": [circuit] * n,
        "port_id": [port] * n,
        "up": [True] * n,
        "speed_mbps": [100] * n,
        "rx_bps": [10_000_000] * n,
        "tx_bps": [5_000_000] * n,
        "latency_ms": [20.0] * n,
        "jitter_ms": [2.0] * n,
        "loss_pct": [0.0] * n,
        "last_flapped": [float(T0 - 86400)] * n,
    }
    base.update(columns)
    return pd.DataFrame(base)


CONFIG = KpiConfig(site_names={"s1": "PARIS-1", "s2": "LYON-2"})


DEFAULT_RULES = AlertRules()


def _kinds(frame, rules=DEFAULT_RULES):
    return [
        (i.kind, i.circuit_id or i.site_id) for i in open_incidents(frame, INTERVAL, rules, CONFIG)
    ]


def test_a_healthy_circuit_opens_nothing():
    assert _kinds(_samples()) == []


@pytest.mark.parametrize("down_samples, expected", [(0, False), (1, True), (2, True)])
def test_down_trips_at_its_minutes(down_samples, expected):
    rules = AlertRules(down_minutes=10)  # one sample of 10 minutes is enough
    up = [True] * (12 - down_samples) + [False] * down_samples
    assert (("down", "aa:ge-0/0/1") in _kinds(_samples(up=up), rules)) is expected


def test_down_needs_the_run_to_reach_the_end():
    rules = AlertRules(down_minutes=20)
    up = [True] * 5 + [False] * 5 + [True] * 2  # down for 50 minutes, but back up now
    assert _kinds(_samples(up=up), rules) == []
    up = [True] * 10 + [False] * 2
    (incident,) = open_incidents(_samples(up=up), INTERVAL, rules, CONFIG)
    assert incident.kind == "down" and incident.value == 20
    assert incident.since == T0 + 10 * INTERVAL * 60 and incident.site_name == "PARIS-1"


def test_congestion_needs_thirty_minutes_at_ninety_percent():
    busy = [10_000_000] * 9 + [95_000_000] * 3  # 30 minutes at 95 %
    found = open_incidents(_samples(rx_bps=busy), INTERVAL, AlertRules(), CONFIG)
    assert [(i.kind, i.value) for i in found] == [("congested", 95.0)]
    busy = [10_000_000] * 10 + [95_000_000] * 2  # 20 minutes: not yet
    assert _kinds(_samples(rx_bps=busy)) == []
    # tx counts as much as rx; an unknown speed never counts as congested
    assert _kinds(_samples(tx_bps=[95_000_000] * 12))[0][0] == "congested"
    assert _kinds(_samples(tx_bps=[95_000_000] * 12, speed_mbps=[0] * 12)) == []


def test_loss_and_latency_over_their_tier_for_their_minutes():
    rules = AlertRules(quality_minutes=20)
    lossy = [0.0] * 10 + [3.0] * 2
    slow = [20.0] * 10 + [400.0] * 2
    assert _kinds(_samples(loss_pct=lossy, latency_ms=slow), rules) == [
        ("loss", "aa:ge-0/0/1"),
        ("latency", "aa:ge-0/0/1"),
    ]
    assert _kinds(_samples(loss_pct=[0.0] * 11 + [3.0]), rules) == []
    # while a circuit is down its loss is not a separate incident
    down = [True] * 9 + [False] * 3
    assert _kinds(_samples(up=down, loss_pct=[100.0] * 12), rules) == [("down", "aa:ge-0/0/1")]


def test_flaps_in_the_hour_from_the_gateways_record_and_from_steps():
    now = T0 + 11 * INTERVAL * 60
    # three distinct last_flapped instants within the last hour: three flaps
    lf = [float(T0)] * 8 + [now - 1500.0, now - 900.0, now - 900.0, now - 300.0]
    assert ("flapping", "aa:ge-0/0/1") in _kinds(_samples(last_flapped=lf))
    assert _kinds(_samples(last_flapped=lf), AlertRules(flaps_per_hour=4)) == []
    # a gateway that never moves last_flapped: the up -> down steps are counted instead
    up = [True, True, True, True, True, True, False, True, False, True, False, True]
    assert ("flapping", "aa:ge-0/0/1") in _kinds(_samples(up=up))


def test_a_circuit_not_swept_lately_is_not_now():
    stale = _samples(circuit="bb:ge-0/0/1", n=6, up=[False] * 6)  # its last sample 1 h ago
    fresh = _samples()
    assert _kinds(pd.concat([stale, fresh], ignore_index=True)) == []


def test_a_site_on_its_backup():
    primary = _samples(circuit="aa:ge-0/0/0", port="ge-0/0/0", up=[True] * 11 + [False])
    backup = _samples(circuit="aa:ge-0/0/1", port="ge-0/0/1")
    found = open_incidents(
        pd.concat([primary, backup], ignore_index=True), INTERVAL, AlertRules(), CONFIG
    )
    assert [(i.kind, i.key) for i in found] == [
        ("down", "down@aa:ge-0/0/0"),
        ("on_backup", "on_backup@s1"),
    ]
    assert "running on aa:ge-0/0/1" in found[1].detail
    # both down: not on backup, just down
    backup_down = _samples(circuit="aa:ge-0/0/1", port="ge-0/0/1", up=[True] * 11 + [False])
    found = open_incidents(
        pd.concat([primary, backup_down], ignore_index=True), INTERVAL, AlertRules(), CONFIG
    )
    assert [i.kind for i in found] == ["down", "down"]


def test_the_text_says_how_long_it_has_lasted_now_past_two_hours():
    """Samples of the last two hours are read; an outage open since earlier (the alert state's
    first sight) counts from there: 'down for 5 h 10 min', not 'for 120 min'."""
    frame = _samples(up=[False] * 12)
    now = T0 + 11 * INTERVAL * 60
    [fresh] = open_incidents(frame, INTERVAL, DEFAULT_RULES, CONFIG, now=now)
    assert fresh.detail == "down for 2 h 00 min" and fresh.since == T0
    first = now - 5 * 3600
    [late] = open_incidents(
        frame, INTERVAL, DEFAULT_RULES, CONFIG, now=now, first_seen={fresh.key: first}
    )
    assert late.detail == "down for 5 h 10 min" and late.since == first
    assert late.value == 310


@pytest.mark.parametrize(
    "seconds, text",
    [(0, "0 min"), (59 * 60, "59 min"), (3600, "1 h 00 min"), (86400 + 7260, "1 d 2 h")],
)
def test_durations_read_as_a_noc_reads_them(seconds, text):
    from wanperf_dagster.alerts.rules import duration

    assert duration(seconds) == text
