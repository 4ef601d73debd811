"""The WAN insight feeds (SLE, VPN paths, device events) against the simulator over HTTP and a
real Redis: what is stored equals the world model, a killed ingestion resumes without losing or
repeating anything, and bad records are quarantined and counted."""

import math

import numpy as np
import pytest

from wanperf_dagster.feeds import InsightsConfig, InsightsLockedError, run_insights
from wanperf_dagster.feeds.events.fetch import event_row
from wanperf_dagster.feeds.paths.fetch import path_row
from wanperf_dagster.feeds.sle.fetch import sle_row
from wanperf_dagster.store import insights as feed_store
from wanperf_dagster.store import keys

from .conftest import NOW, make_client

pytestmark = [pytest.mark.integration, pytest.mark.storage]

DAY = "2025-11-26"
DAY0 = NOW // 86400 * 86400


def _stored(r, sim, feed):
    return feed_store.read_site_days(r, feed, [(DAY, s.id) for s in sim.org.sites])


def _event_tuples(events):
    """(epoch, circuit, down/up) of the stored port events, sorted (the gateways' rows aside)."""
    events = events[events["circuit_id"].notna()]
    epochs = events["ts"].map(lambda x: x.timestamp())
    return sorted(zip(epochs, events["circuit_id"], events["event"], strict=True))


def _world_events(sim, start, end):
    ev = sim.world.port_events(sim.org.wan_port_indices(), start, end)
    return sorted(
        (float(t), sim.org.circuit_id(p), e)
        for t, p, e in zip(ev["ts"], ev["port"], ev["event"], strict=True)
    )


def test_one_ingestion_stores_each_feed_as_the_world_has_it(sim, redis_client):
    client = make_client(sim)
    config = InsightsConfig(
        page_limit=15,
        sle_backfill_hours=3,
        events_lookback_seconds=9 * 3600,
        events_settle_seconds=0,
    )
    before = sim.calls
    result = run_insights(client, redis_client, config)
    assert result.calls == sim.calls - before and result.calls > 0  # all through the budget
    assert sim.over_budget == 0

    # SLE: the 3 complete hours before 09:03, every site, equal to the world's
    sle = _stored(redis_client, sim, "sle")
    assert result.sle_hours == 3 and len(sle) == 3 * len(sim.org.sites) == result.sle_rows
    for h in range(6, 9):
        truth = sim.world.site_sle(
            np.arange(len(sim.org.sites)), DAY0 + h * 3600, DAY0 + (h + 1) * 3600
        )
        got = sle[sle["hour"].map(lambda x: x.timestamp()) == DAY0 + h * 3600].set_index("site_id")
        for row in truth.itertuples():
            assert got.loc[sim.org.sites[row.site].id, "wan_link_health"] == row.wan_link_health

    # paths: every path once, in this slot
    paths = _stored(redis_client, sim, "paths")
    assert len(paths) == len(sim.world.vpn_paths()) == result.paths
    assert (
        paths["path_id"].is_unique
        and (paths["ts"].map(lambda x: x.timestamp()) == NOW // 600 * 600).all()
    )

    # events: exactly the world's changes in the window, and the window is recorded as covered
    events = _stored(redis_client, sim, "events")
    got = _event_tuples(events)
    assert got == _world_events(sim, NOW - 9 * 3600, NOW) and got
    assert result.other_events > 0  # the reboots' GW_REBOOTED, counted and not kept
    assert feed_store.event_coverage(redis_client, sim.org.id, DAY0, DAY0 + 86400) == [
        (NOW - 9 * 3600, NOW)
    ]

    # the next run an hour later fetches only what is new
    sim.clock.advance(3600)
    again = run_insights(client, redis_client, config)
    assert again.sle_hours == 1 and again.event_window == (NOW, NOW + 3600)
    assert feed_store.event_coverage(redis_client, sim.org.id, DAY0, DAY0 + 86400) == [
        (NOW - 9 * 3600, NOW + 3600)
    ]
    events = _stored(redis_client, sim, "events")
    assert _event_tuples(events) == _world_events(sim, NOW - 9 * 3600, NOW + 3600)


class Killed(BaseException):
    """The process dying right after a page was saved."""


@pytest.mark.parametrize("feed,kill_at", [("sle", 2), ("paths", 2), ("events", 2)])
def test_a_killed_ingestion_resumes_without_loss_or_repeats(sim, redis_client, feed, kill_at):
    sim.clock.set(NOW + 5 * 86400)  # a busier stretch: several pages of events
    client = make_client(sim)
    config = InsightsConfig(
        page_limit=7,
        sle_backfill_hours=2,
        events_lookback_seconds=2 * 86400,
        events_settle_seconds=0,
    )
    pages = []

    def die(name, n):
        if name == feed:
            pages.append(n)
            if len(pages) == kill_at:
                raise Killed

    with pytest.raises(Killed):
        run_insights(client, redis_client, config, feeds=(feed,), on_page=die)
    assert not feed_store.event_coverage(
        redis_client, sim.org.id, 0, 2**40
    )  # an unfinished window is not
    resumed = run_insights(client, redis_client, config, feeds=(feed,))
    assert resumed.resumed and feed in resumed.resumed[0]
    t = int(sim.clock.now())
    days = {(DAY0 + k * 86400, s.id) for k in (3, 4, 5) for s in sim.org.sites}
    stored = feed_store.read_site_days(
        redis_client,
        feed,
        [(np.datetime64(d, "s").astype(str)[:10], s) for d, s in sorted(days)],
    )
    if feed == "sle":
        assert len(stored) == 2 * len(sim.org.sites)
    elif feed == "paths":
        assert len(stored) == len(sim.world.vpn_paths()) and stored["path_id"].is_unique
    else:
        got = _event_tuples(stored)
        assert got == _world_events(sim, t - 2 * 86400, t)
        assert feed_store.event_coverage(redis_client, sim.org.id, 0, 2**40) == [(t - 2 * 86400, t)]


def test_a_resumed_event_window_whose_cursor_expired_is_searched_again(sim, redis_client):
    """Killed mid-window, resumed after the saved cursor expired (an hour): the server refuses
    it, the window is searched again from its first page, and it ends covered and exact."""
    client = make_client(sim)
    config = InsightsConfig(page_limit=5, events_lookback_seconds=9 * 3600, events_settle_seconds=0)
    pages = []

    def die(name, n):
        pages.append(n)
        if len(pages) == 2:
            raise Killed

    with pytest.raises(Killed):
        run_insights(client, redis_client, config, feeds=("events",), on_page=die)
    sim.clock.advance(2 * 3600)  # past the simulator's cursor lifetime
    again = run_insights(client, redis_client, config, feeds=("events",))
    assert any("searched again" in r for r in again.resumed)
    assert again.event_window == (NOW - 9 * 3600, NOW)  # the window in progress, pinned
    assert _event_tuples(_stored(redis_client, sim, "events")) == _world_events(
        sim, NOW - 9 * 3600, NOW
    )
    assert feed_store.event_coverage(redis_client, sim.org.id, 0, 2**40) == [(NOW - 9 * 3600, NOW)]


def test_a_server_clock_behind_ours_cuts_the_windows_it_has_not_reached(sim, redis_client):
    """Our clock 58 minutes ahead of the server's: the events are covered up to the server's
    now (what it says it searched), and an hour the server has not finished waits for the next
    run instead of being stored partial or skipped."""
    client = make_client(sim)
    client.clock = lambda: sim.clock.now() + 58 * 60  # 10:01 here, 09:03 there
    config = InsightsConfig(sle_backfill_hours=3, events_lookback_seconds=3600)
    first = run_insights(client, redis_client, config)
    assert first.event_window == (NOW + 58 * 60 - 120 - 3600, NOW)
    assert feed_store.event_coverage(redis_client, sim.org.id, 0, 2**40)[-1][1] == NOW
    hours = sorted({h.timestamp() for h in _stored(redis_client, sim, "sle")["hour"]})
    assert hours == [DAY0 + 7 * 3600, DAY0 + 8 * 3600]  # 09:00 is not over on the server
    sim.clock.advance(3600)  # 10:03 there: 09:00 is complete now
    run_insights(client, redis_client, config)
    hours = sorted({h.timestamp() for h in _stored(redis_client, sim, "sle")["hour"]})
    assert hours == [DAY0 + 7 * 3600, DAY0 + 8 * 3600, DAY0 + 9 * 3600]
    assert _event_tuples(_stored(redis_client, sim, "events")) == _world_events(
        sim, NOW + 58 * 60 - 120 - 3600, NOW + 3600
    )
    assert feed_store.event_coverage(redis_client, sim.org.id, 0, 2**40) == [
        (NOW + 58 * 60 - 120 - 3600, NOW + 3600)
    ]


def test_one_ingestion_at_a_time(sim, redis_client):
    client = make_client(sim)
    lock = redis_client.lock(keys.insights_lock(sim.org.id), timeout=30)
    assert lock.acquire(blocking=False)
    with pytest.raises(InsightsLockedError):
        run_insights(client, redis_client)
    lock.release()


def test_records_from_the_server_are_checked_not_trusted():
    ok, _ = sle_row({"site_id": "s", "gateway-health": 1, "wan-link-health": 0.5}, 3600)
    assert ok["wan_link_health"] == 0.5 and ok["application_health"] is None
    for bad, why in (
        ({"gateway-health": 1}, "missing site_id"),
        ({"site_id": "s", "gateway-health": 1.2}, "gateway-health"),
        ({"site_id": "s", "gateway-health": True}, "gateway-health"),
        ({"site_id": "s", "gateway-health": 1, "wan-link-health": math.nan}, "wan-link-health"),
        ({"site_id": "s", "gateway-health": 1, "wan-link-health": "0.9"}, "wan-link-health"),
        ("[]", "not an object"),
    ):
        row, reason = sle_row(bad, 0)
        assert row is None and why in reason
    base = {"site_id": "s", "mac": "m", "port_id": "p", "peer_mac": "h", "peer_port_id": "q"}
    row, _ = path_row({**base, "up": True, "latency": 12, "loss": 0.1, "mos": 4.2}, 600)
    assert row["path_id"] == "m:p>h:q" and row["circuit_id"] == "m:p" and row["latency_ms"] == 12
    assert path_row({**base, "up": "yes"}, 0)[0] is None
    assert "loss" in path_row({**base, "up": True, "loss": 140}, 0)[1]
    assert "latency" in path_row({**base, "up": True, "latency": -3}, 0)[1]
    assert "mos" in path_row({**base, "up": True, "mos": 9}, 0)[1]
    assert "peer_mac" in path_row({**base, "peer_mac": "", "up": True}, 0)[1]
    event = {"type": "GW_PORT_DOWN", "timestamp": 100.5, "site_id": "s", "mac": "m", "port_id": "p"}
    assert event_row(event, 100, 200)[0]["event"] == "down"
    assert event_row({**event, "type": "GW_REBOOTED"}, 100, 200) == (None, "")
    assert "outside" in event_row({**event, "timestamp": 250}, 100, 200)[1]
    assert "epoch" in event_row({**event, "timestamp": 10**30}, 100, 200)[1]
    assert "port_id" in event_row({**event, "port_id": None}, 100, 200)[1]


def test_a_port_event_names_its_port_in_port_id_or_in_its_link_trap_text():
    """A GW_PORT_DOWN as a gateway sent it in the field: no port_id, the port only in the
    text of its SNMP link trap."""
    field = {
        "type": "GW_PORT_DOWN",
        "timestamp": 1601274808,
        "site_id": "f5fcbee5-fbca-45b3-8bf1-1619ede87879",
        "mac": "2c21311c37b0",
        "device_type": "gateway",
        "text": "SNMP_TRAP_LINK_DOWN: ifIndex 518, ifAdminStatus up(1), ifOperStatus down(2),"
        " ifName ge-0/0/4",
    }
    row, why = event_row(field, 1601274800, 1601274900)
    assert (
        why == "" and row["port_id"] == "ge-0/0/4" and row["circuit_id"] == "2c21311c37b0:ge-0/0/4"
    )
    # the end of a sentence is not part of the name; a port_id, where given, wins
    ended = {**field, "text": "link down, ifName ge-0/0/1."}
    assert event_row(ended, 1601274800, 1601274900)[0]["port_id"] == "ge-0/0/1"
    assert event_row({**field, "port_id": "ge-0/0/2"}, 1601274800, 1601274900)[0]["port_id"] == (
        "ge-0/0/2"
    )
    for text in ("port went down", "ifName ", "ifName ,ge-0/0/4", None, 42):
        row, why = event_row({**field, "text": text}, 1601274800, 1601274900)
        assert row is None and "port_id (nor ifName)" in why, text


def test_bad_records_are_quarantined_and_counted(sim, redis_client, monkeypatch):
    """A server that sends broken path records: they are counted and kept aside, the rest stored."""
    serve = sim._vpn_peer_search

    def broken(path, query, q):
        status, headers, body = serve(path, query, q)
        body["results"][0]["loss"] = 250
        body["results"][1].pop("mac")
        return status, headers, body

    monkeypatch.setattr(sim, "_vpn_peer_search", broken)
    result = run_insights(
        make_client(sim), redis_client, InsightsConfig(page_limit=10), feeds=("paths",)
    )
    pages = math.ceil(len(sim.world.vpn_paths()) / 10)
    assert result.quarantined["paths"] == 2 * pages
    assert result.paths == len(sim.world.vpn_paths()) - 2 * pages
    assert redis_client.llen(keys.quarantine(sim.org.id, "insights-paths")) == 2 * pages


def test_server_errors_cut_bodies_and_429s_lose_and_repeat_nothing(sim, redis_client):
    """5xx, truncated and malformed bodies and a 429 storm: an ingestion that gives up is simply
    run again, and what is stored in the end equals the world exactly."""
    from wanperf_dagster.mist import MistError

    sim.faults.update(
        error_rate=0.25, truncate_rate=0.1, malformed_json_rate=0.05, throttle_next=4, retry_after=0
    )
    client = make_client(sim, retries=2)
    config = InsightsConfig(
        page_limit=6,
        sle_backfill_hours=2,
        events_lookback_seconds=9 * 3600,
        events_settle_seconds=0,
    )
    failures = 0
    for _ in range(30):
        try:
            run_insights(client, redis_client, config)
            break
        except MistError:
            failures += 1
    else:
        pytest.fail("the ingestion never completed")
    sim.faults.update(error_rate=0.0, truncate_rate=0.0, malformed_json_rate=0.0)
    assert failures >= 1  # the faults did interrupt it
    assert sim.over_budget == 0
    events = _stored(redis_client, sim, "events")
    got = _event_tuples(events)
    assert got == _world_events(sim, NOW - 9 * 3600, NOW)
    assert feed_store.event_coverage(redis_client, sim.org.id, 0, 2**40) == [(NOW - 9 * 3600, NOW)]
    assert len(_stored(redis_client, sim, "sle")) == 2 * len(sim.org.sites)
    paths = _stored(redis_client, sim, "paths")
    assert len(paths) == len(sim.world.vpn_paths()) and paths["path_id"].is_unique


def test_gateways_offline_are_stored_as_events_and_status_and_their_circuits_registered(
    sim, redis_client
):
    """A gateway offline: while it is, each ingestion stores its status (offline now, and since
    when); after, its GW_DISCONNECTED and GW_CONNECTED. Every gateway's WAN ports, dark or not,
    go into their site's register of circuits, first and last seen."""
    off = sim.world.offline_episodes(DAY0, DAY0 + 86400)
    episode = off[(off["down"] > DAY0 + 600) & (off["up"] < DAY0 + 86400 - 3600)].iloc[0]
    gw = sim.org.gateways[int(episode.gateway)]
    client = make_client(sim)
    config = InsightsConfig(events_lookback_seconds=3600, events_settle_seconds=0)
    inside = int(episode.down) + 300
    sim.clock.set(inside)
    result = run_insights(client, redis_client, config, feeds=("events",))
    assert result.offline_gateways >= 1 and result.gateways == len(sim.org.gateways)
    day = sample_store_day(inside)
    rows = feed_store.read_site_days(
        redis_client, "events", [(day, sim.org.sites[gw.site_index].id)]
    )
    mine = rows[rows["mac"] == gw.mac]
    mine = mine[mine["type"].isin(["GW_STATUS", "GW_LAST_SEEN"])]
    status = {t: x.timestamp() for t, x in zip(mine["type"], mine["ts"], strict=True)}
    assert status == {"GW_STATUS": inside, "GW_LAST_SEEN": episode.down}
    assert mine["circuit_id"].isna().all() and (mine["event"] == "offline").all()
    sim.clock.set(int(episode.up) + 600)
    run_insights(client, redis_client, config, feeds=("events",))
    rows = feed_store.read_site_days(
        redis_client, "events", [(day, sim.org.sites[gw.site_index].id)]
    )
    mine = rows[(rows["mac"] == gw.mac) & rows["type"].str.endswith("CONNECTED")]
    assert sorted(zip(mine["type"], mine["ts"].map(lambda x: x.timestamp()), strict=True)) == [
        ("GW_CONNECTED", episode.up),
        ("GW_DISCONNECTED", episode.down),
    ]
    # the register: every WAN port of every gateway, first and last seen; a port of a gateway
    # offline at the first ingestion, first seen when the gateway was last seen
    registry = feed_store.read_circuits(redis_client, [s.id for s in sim.org.sites])
    wan = sim.org.wan_port_indices()
    assert set(registry["circuit_id"]) == {sim.org.circuit_id(i) for i in wan}
    since = sim.world.offline_since(sim.org.arrays["gw"][wan], inside)
    expected = {
        sim.org.circuit_id(i): float(s if s >= 0 else inside)
        for i, s in zip(wan, since, strict=True)
    }
    assert dict(zip(registry["circuit_id"], registry["first_seen"], strict=True)) == expected
    mine = registry[registry["circuit_id"].str.startswith(gw.mac + ":")]
    assert len(mine) >= 1 and (mine["first_seen"] == episode.down).all()
    assert (registry["last_seen"] == int(episode.up) + 600).all()
    assert feed_store.circuits_checked(redis_client) == int(episode.up) + 600
    # a listing read later but written first (the past replayed after a live sweep): the
    # earliest sight is kept, whatever the order, and the last does not go back
    sim.clock.set(DAY0 + 60)
    run_insights(client, redis_client, config, feeds=("devices",))
    again = feed_store.read_circuits(redis_client, [s.id for s in sim.org.sites])
    assert (again["first_seen"] <= DAY0 + 60).all()
    assert (again["last_seen"] == int(episode.up) + 600).all()


def sample_store_day(t):
    from wanperf_dagster.store.samples import day_of

    return day_of(t)
