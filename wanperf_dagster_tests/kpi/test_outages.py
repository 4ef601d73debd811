"""Exact down time from events, bounded by the samples (`kpi.outages`), circuits that exist
without a sample (`kpi.lifetimes`), and a site-day as the asset computes it (`kpi.site_day`)."""

import numpy as np
import pandas as pd

from wanperf_dagster.kpi import (
    KpiConfig,
    apply_port_events,
    circuit_kpis,
    org_daily_kpis,
    site_day_kpis,
)
from wanperf_dagster_tests.kpi.helpers import day_of_samples, samples

D0 = 1_764_115_200  # 2025-11-26 00:00 UTC
DAY = 86400
C = "aa:ge-0/0/0"
ALL_DAY = [(D0 - 100, D0 + DAY + 5)]
LATER = D0 + 2 * DAY


def _events(*rows, mac="aa"):
    """(t, circuit or None, event or gateway event type) rows as the `port_events` asset has
    them."""
    out = []
    for t, c, e in rows:
        device = c is None
        out.append(
            {
                "ts": pd.Timestamp(t, unit="s", tz="UTC"),
                "site_id": "s1",
                "circuit_id": c,
                "mac": mac,
                "event": "offline" if device else e,
                "type": e if device else {"down": "GW_PORT_DOWN", "up": "GW_PORT_UP"}[e],
            }
        )
    return pd.DataFrame(out, columns=["ts", "site_id", "circuit_id", "mac", "event", "type"])


def _apply(frame, events, coverage=ALL_DAY, now=LATER, **kw):
    hourly, daily = circuit_kpis(frame, 10)
    d, h, _ = apply_port_events(daily, hourly, events, coverage, now, samples=frame, **kw)
    return d.iloc[0], h.set_index(h["hour"].map(lambda x: int(x.timestamp()) - D0) // 3600)


def test_events_give_down_seconds_flaps_and_availability_exactly():
    frame = day_of_samples(down_slots=[60, 66])  # the samples at 10:00:05 and 11:00:05 agree
    events = _events(
        (D0 + 36000.5, C, "down"),
        (D0 + 36000.5, C, "down"),  # the same event twice is one
        (D0 + 36200.5, C, "up"),
        (D0 + 10 * 3600 + 3599, C, "down"),  # across the hour: 1 s in hour 10, 60 s in hour 11
        (D0 + 11 * 3600 + 60, C, "up"),
    )
    row, h = _apply(frame, events.sample(frac=1, random_state=3))  # in any order
    assert row["state_source"] == "events" and row["down_seconds"] == 200 + 61
    assert row["flaps"] == 4 and row["observed_seconds"] == DAY and row["unknown_seconds"] == 0
    assert row["event_contradictions"] == 0
    assert abs(row["availability_pct"] - (DAY - 261) / DAY * 100) < 1e-9
    assert h.loc[10, "down_seconds"] == 201 and h.loc[11, "down_seconds"] == 60
    assert h.loc[10, "flaps"] == 3 and h.loc[11, "flaps"] == 1 and h.loc[9, "down_seconds"] == 0
    assert (h["state_source"] == "events").all() and (h["observed_seconds"] == 3600).all()


def test_a_repeated_down_with_no_sample_between_changes_nothing():
    events = _events((D0 + 36000, C, "down"), (D0 + 36002, C, "down"), (D0 + 36004, C, "up"))
    row, _ = _apply(day_of_samples(), events)
    assert row["down_seconds"] == 4 and row["flaps"] == 2 and row["event_contradictions"] == 0


def test_a_lost_up_is_bounded_by_the_samples_that_saw_the_circuit_up():
    """MELBOURNE-00058: a down at 04:13:20, its up 3 s later lost at a window's edge, all the
    samples after it up: the events alone said down for 11,578 s. The samples bound it: down
    until the last evidence of down (the event itself), unknown until the first sample up, and
    the disagreement counted."""
    down_at = D0 + 4 * 3600 + 800
    events = _events((down_at, C, "down"), (down_at + 11578, C, "down"), (down_at + 11581, C, "up"))
    row, h = _apply(day_of_samples(), events)
    assert row["event_contradictions"] == 1  # up seen after the first down: its up was lost
    assert row["down_seconds"] == 3  # the second outage (a real down: the samples saw it up)
    first_sample_after = D0 + 4 * 3600 + 1200 + 5
    assert row["unknown_seconds"] == first_sample_after - down_at
    assert row["flaps"] == 4  # down, (the lost up), down, up
    assert h.loc[4, "event_contradictions"] == 1


def test_a_sample_down_between_events_that_say_up_is_a_lost_outage():
    frame = day_of_samples(down_slots=[6, 61])  # 01:00:05 agrees; 10:10:05 down, no event
    row, _ = _apply(frame, _events((D0 + 3600, C, "down"), (D0 + 3660, C, "up")))
    assert row["down_seconds"] == 60 and row["event_contradictions"] == 2
    assert row["unknown_seconds"] == 1200  # 10:00:05 up ... 10:10:05 down ... 10:20:05 up
    assert row["flaps"] == 4


def test_the_state_before_the_first_event_and_uncovered_days():
    up_first = _events((D0 + 2, C, "up"))  # down since midnight (the samples start at 00:00:05)
    row, _ = _apply(day_of_samples(), up_first)
    assert row["down_seconds"] == 2 and row["flaps"] == 1 and row["event_contradictions"] == 0
    # a window that does not reach the day's end: the samples stay the source
    row, _ = _apply(day_of_samples(), up_first, coverage=[(D0, D0 + DAY - 4000)])
    assert row["state_source"] == "samples" and row["down_seconds"] == 0
    assert row["observed_seconds"] == (row["up_minutes"] + row["down_minutes"]) * 60
    # today: covered up to now (less the feed's lag), a down still open counts until then
    now = D0 + 12 * 3600
    frame = day_of_samples(down_slots=range(66, 144))
    frame = frame[frame["ts"] < pd.Timestamp(now - 300, unit="s", tz="UTC")]
    row, _ = _apply(frame, _events((D0 + 11 * 3600, C, "down")), [(D0, now - 300)], now)
    assert row["state_source"] == "events" and row["down_seconds"] == 3600 - 300
    assert row["observed_seconds"] == 12 * 3600 - 300  # the day so far, less the lag
    # no event all day while the samples never saw it up: down all the covered day
    row, _ = _apply(day_of_samples(down_slots=range(144)), _events(), [(D0, D0 + DAY)], D0 + DAY)
    assert row["down_seconds"] == DAY and row["availability_pct"] == 0


def test_a_gateway_offline_is_down_and_says_so():
    frame = day_of_samples()
    dark = (frame["ts"] >= pd.Timestamp(D0 + 7200, unit="s", tz="UTC")) & (
        frame["ts"] < pd.Timestamp(D0 + 9000, unit="s", tz="UTC")
    )
    events = _events((D0 + 7000, None, "GW_DISCONNECTED"), (D0 + 9000, None, "GW_CONNECTED"))
    row, _ = _apply(frame[~dark], events)
    assert row["down_seconds"] == 2000 and row["offline_seconds"] == 2000
    assert row["event_contradictions"] == 0 and row["flaps"] == 2
    # the connect lost: down until the last status that said offline, then unknown until a
    # sample sees it again
    status = _events((D0 + 7000, None, "GW_DISCONNECTED"), (D0 + 8400, None, "GW_STATUS"))
    row, _ = _apply(frame[~dark], status)
    assert row["offline_seconds"] == 1400 and row["unknown_seconds"] == 9005 - 8400


def _site_day(frame, events=None, registry=None, day="2025-11-26", now=LATER, coverage=ALL_DAY):
    events = _events() if events is None else events
    return site_day_kpis(
        frame, events, coverage, 10, KpiConfig(), [day], now=now, registry=registry
    )


def test_a_circuit_dark_all_day_keeps_its_row_unknown_or_down():
    """The gateway stopped reporting: no sample all day. Its circuits had samples the day
    before, so they still have rows: unknown time where nothing was observed (availability
    empty, never 100 %), down where the gateway's status said it was offline."""
    yesterday = samples(
        [{"minute": m, "circuit": c} for m in range(0, 1440, 10) for c in (C, "aa:ge-0/0/1")],
        day="2025-11-25",
    )
    _, daily = _site_day(yesterday)
    assert len(daily) == 2 and (daily["samples"] == 0).all()
    assert daily["availability_pct"].isna().all() and (daily["observed_seconds"] == 0).all()
    assert (daily["unknown_seconds"] == DAY).all() and (daily["unknown_minutes"] == 1440).all()
    assert set(daily["role"]) == {"primary", "secondary"}
    status = _events(*[(D0 + 600 * k + 30, None, "GW_STATUS") for k in range(144)])
    _, daily = _site_day(yesterday, status)
    assert (daily["down_seconds"] >= DAY - 30).all() and (daily["availability_pct"] == 0).all()
    assert (daily["offline_seconds"] == daily["down_seconds"]).all()
    # the org's availability falls with them, it does not rise because they are gone
    seen_today = samples(
        [{"minute": m, "circuit": "bb:ge-0/0/0", "site": "s2"} for m in range(0, 1440, 10)],
        day="2025-11-26",
    )
    _, with_dark = _site_day(pd.concat([yesterday, seen_today]), status)
    assert org_daily_kpis(with_dark)["availability_pct"].iloc[0] < 50


def test_a_site_added_at_noon_is_observed_from_noon():
    frame = samples([{"minute": m} for m in range(720, 1440, 10)], day="2025-11-26")
    registry = pd.DataFrame(
        {
            "site_id": ["s1"],
            "circuit_id": [C],
            "first_seen": [D0 + 720 * 60 + 5.0],
            "last_seen": [LATER],
        }
    )
    _, daily = _site_day(frame, registry=registry)
    row = daily.iloc[0]
    assert row["observed_seconds"] == DAY / 2 and row["unknown_seconds"] == 0
    assert row["unknown_minutes"] == 0 and row["availability_pct"] == 100
    # without the register nor a sample before, the samples' first instant says as much
    _, daily = _site_day(frame)
    assert daily["observed_seconds"].iloc[0] == DAY / 2


def test_a_circuit_removed_mid_day_ends_there():
    frame = samples([{"minute": m} for m in range(0, 600, 10)], day="2025-11-26")
    registry = pd.DataFrame(
        {
            "site_id": ["s1"],
            "circuit_id": [C],
            "first_seen": [D0 - DAY],
            "last_seen": [D0 + 590 * 60 + 5.0],
        }
    )
    hourly, daily = site_day_kpis(
        frame,
        _events(),
        ALL_DAY,
        10,
        KpiConfig(),
        ["2025-11-26"],
        now=LATER,
        registry=registry,
        checked_at=LATER,
    )
    row = daily.iloc[0]
    assert row["observed_seconds"] == 600 * 60 and row["unknown_seconds"] == 0
    assert len(hourly) == 10 and np.all(hourly["unknown_seconds"] == 0)
