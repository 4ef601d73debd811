"""The insight feeds' closed days: compacted in Redis by the next day's first ingestion, then,
once the feed's asset of a site-day is in the history tier, released there. Every read gives
back exactly the rows the hashes gave (so a month-old site-day recomputes the same), a row that
lands late counts once, and Redis keeps none of it once released."""

import time

import pandas as pd
import pyarrow as pa
import pytest

from wanperf_dagster import kpi
from wanperf_dagster.feeds import InsightsConfig, ingest, run_insights
from wanperf_dagster.feeds.paths.kpis import vpn_path_kpis
from wanperf_dagster.mist import MistClient, SweepConfig, run_sweep
from wanperf_dagster.settings import get_settings
from wanperf_dagster.simulator import MistSimulator, SimulatorConfig, SimulatorServer
from wanperf_dagster.storage import AssetStore, history_for
from wanperf_dagster.store import insights as feed_store
from wanperf_dagster.store import keys
from wanperf_dagster.store.samples import day_of

pytestmark = [pytest.mark.integration, pytest.mark.storage]

DAY0 = 1_764_115_200  # 2025-11-26 00:00 UTC
DAY1, DAY2 = "2025-11-26", "2025-11-27"
FEEDS = feed_store.FEEDS
SITES = 3


@pytest.fixture(scope="module")
def sim():
    simulator = MistSimulator(SimulatorConfig(sites=SITES, seed=11, now=DAY0, tokens=("tok-f",)))
    with SimulatorServer(simulator) as server:
        simulator.url = server.url
        yield simulator


def _stored_everywhere(r, feed: str, day: str, sites) -> tuple[int, int]:
    """How many of the site-days are a hash, how many a compacted value, in Redis."""
    pipe = r.pipeline(transaction=False)
    for s in sites:
        pipe.exists(keys.raw_feed(feed, day, s))
        pipe.exists(keys.raw_feed_packed(feed, day, s))
    there = pipe.execute()
    return sum(there[0::2]), sum(there[1::2])


def _save_asset_of(store: AssetStore, asset: str, day: str, sites) -> None:
    """The feed's asset of the site-days saved to both tiers, as the IO manager does."""
    tables = {
        f"{day}|{key}": pa.table({"day": [day], "site_id": [site]})
        for site, key in zip(sites, store.site_keys(sites), strict=True)
    }
    store.save(asset, tables, keep_history=True)


def test_closed_feed_days_compact_then_go_to_history_and_read_back_exactly(
    sim, redis_client, monkeypatch
):
    # the hashes of DAY1 as they were before anything happened to them: today's hours not
    # folded as they go by (the next test has that)
    monkeypatch.setattr(ingest, "_compact_today", lambda *args: None)
    client = MistClient(["tok-f"], sim.url, clock=sim.clock.now, sleep=lambda s: None)
    config = InsightsConfig(sle_backfill_hours=1, events_lookback_seconds=3600)
    for k in range(-1, 144):
        sim.clock.set(DAY0 + k * 600 + 30)
        run_sweep(client, redis_client, SweepConfig())
        run_insights(client, redis_client, config)
    sites = [s.id for s in sim.org.sites]
    pairs = [(DAY1, s) for s in sites]
    store = AssetStore(redis_client, history=history_for(get_settings(), redis_client))
    # the settle window's last events of the day come with the next slot's ingestion: read
    # the hashes after it, as it is what compacts them too, by the before/after of a second
    sim.clock.set(DAY0 + 144 * 600 + 130)
    hashes_before = {f: _stored_everywhere(redis_client, f, DAY1, sites) for f in FEEDS}
    assert all(hashes_before[f] == (SITES, 0) for f in ("sle", "devices")), hashes_before
    assert hashes_before["paths"][0] and hashes_before["events"][0], hashes_before
    run_insights(client, redis_client, config)

    # 1. compacted by the next day's first ingestion: no hash left, one value per site-day
    for feed in FEEDS:
        hashes, packed = _stored_everywhere(redis_client, feed, DAY1, sites)
        assert hashes == 0 and packed == hashes_before[feed][0], feed
    assert _stored_everywhere(redis_client, "paths", DAY2, sites) == (
        hashes_before["paths"][0],
        0,
    )  # today: still a hash
    compacted = {f: store.read_feed(f, pairs) for f in FEEDS}
    assert len(compacted["paths"]) and len(compacted["sle"]) == 24 * SITES

    # the rows are those the hashes held: one again from fresh hashes of the same fields
    fresh = {f: feed_store.stored_fields(redis_client, f, pairs) for f in FEEDS}
    assert sum(len(x) for x in fresh["paths"]) == len(compacted["paths"])

    # 2. the feed's assets of DAY1 saved to both tiers: each feed goes to history
    for asset in ("site_sle", "vpn_path_kpis", "port_events", "gateway_status"):
        _save_asset_of(store, asset, DAY1, sites)
    for feed in FEEDS:
        assert _stored_everywhere(redis_client, feed, DAY1, sites) == (0, 0), feed
        assert feed_store.released_site_days(redis_client, feed, pairs) == {
            p for p, f in zip(pairs, fresh[feed], strict=True) if f
        }
        released = store.read_feed(feed, pairs)
        pd.testing.assert_frame_equal(released, compacted[feed], check_like=False)
    # a path KPI of the day recomputed from the history is the one of the hashes
    cfg = kpi.KpiConfig()
    pd.testing.assert_frame_equal(
        vpn_path_kpis(store.read_feed("paths", pairs), 10, cfg),
        vpn_path_kpis(compacted["paths"], 10, cfg),
    )

    # 3. a late row of DAY1 (a new one, and one field written again with another value)
    first = compacted["paths"].iloc[0]
    late_ts = int(first["ts"].timestamp()) + 1
    row = {k: (v.item() if hasattr(v, "item") else v) for k, v in first.items()}
    changed = {**row, "ts": int(first["ts"].timestamp()), "latency_ms": 999.0}
    new = {**row, "ts": late_ts, "latency_ms": 1.5}
    pipe = redis_client.pipeline(transaction=False)
    feed_store.queue_rows(pipe, "paths", [changed, new], 3600)
    pipe.execute()
    with_late = store.read_feed("paths", pairs)
    assert len(with_late) == len(compacted["paths"]) + 1  # the new row once, the other replaced
    assert (with_late["latency_ms"] == 999.0).sum() == 1
    # released again with it: the history holds both, Redis nothing
    _save_asset_of(store, "vpn_path_kpis", DAY1, sites)
    assert _stored_everywhere(redis_client, "paths", DAY1, sites) == (0, 0)
    pd.testing.assert_frame_equal(store.read_feed("paths", pairs), with_late)

    # yesterday and today are never released: late rows still land there, field by field
    for when in (time.time() - 86400, time.time()):
        day = day_of(when)
        pipe = redis_client.pipeline(transaction=False)
        feed_store.queue_rows(pipe, "paths", [{**new, "ts": int(when)}], 3600)
        pipe.execute()
        _save_asset_of(store, "vpn_path_kpis", day, sites)
        assert _stored_everywhere(redis_client, "paths", day, sites) == (1, 0), day


def _ingest_hours(sim, r, slots: int) -> None:
    client = MistClient(["tok-f"], sim.url, clock=sim.clock.now, sleep=lambda s: None)
    config = InsightsConfig(sle_backfill_hours=1, events_lookback_seconds=3600)
    for k in range(-1, slots):
        sim.clock.set(DAY0 + k * 600 + 30)
        run_sweep(client, r, SweepConfig())
        run_insights(client, r, config)


def test_todays_hours_are_folded_as_they_go_by_and_read_the_same(sim, redis_client, monkeypatch):
    """The first ingestion of an hour folds today's hashes into their values: what a read
    gives is what it gave without it, and the hashes hold the current hour's rows alone."""
    sites = [s.id for s in sim.org.sites]
    pairs = [(DAY1, s) for s in sites]
    store = AssetStore(redis_client)
    slots = 3 * 6 + 2  # 03:10: three hours gone by, and two slots of the fourth
    with monkeypatch.context() as patched:
        patched.setattr(ingest, "_compact_today", lambda *args: None)
        _ingest_hours(sim, redis_client, slots)
    unfolded = {f: store.read_feed(f, pairs) for f in FEEDS}
    assert _stored_everywhere(redis_client, "paths", DAY1, sites)[1] == 0
    redis_client.flushdb()
    _ingest_hours(sim, redis_client, slots)  # the same world, folded
    for feed in ("sle", "paths", "devices"):
        pd.testing.assert_frame_equal(store.read_feed(feed, pairs), unfolded[feed])
        _, values = _stored_everywhere(redis_client, feed, DAY1, sites)
        assert values == sum(1 for f in feed_store.stored_fields(redis_client, feed, pairs) if f)
    # the paths' hashes hold the slots of 03:00 on, the values the hours before
    hour3 = DAY0 + 3 * 3600
    for site in sites:
        held = redis_client.hkeys(keys.raw_feed("paths", DAY1, site))
        assert all(int(f.split(b"|")[0]) >= hour3 for f in held), site
    assert (unfolded["paths"]["ts"] < pd.Timestamp(hour3, unit="s", tz="UTC")).sum() > 0
    assert feed_store.IngestionState(redis_client, sim.org.id).values["compacted_hour"] == str(
        hour3 // 3600
    )


def test_a_row_landing_between_the_read_and_the_release_stays(redis_client):
    """The release drops a hash only as it read it: one that grew meanwhile stays in Redis,
    read beside the history's rows, and nothing is lost."""
    rows = [
        {"ts": DAY0 + 60 * k, "site_id": "s1", "mac": "m", "port_id": "p", "type": "x"}
        for k in range(3)
    ]
    pipe = redis_client.pipeline(transaction=False)
    feed_store.queue_rows(pipe, "events", rows[:2], 3600)
    pipe.execute()
    [(_, length, packed)] = feed_store.stored_as_read(redis_client, "events", [(DAY1, "s1")])
    pipe = redis_client.pipeline(transaction=False)
    feed_store.queue_rows(pipe, "events", rows[2:], 3600)  # lands after the release's read
    pipe.execute()
    dropped = feed_store.release_site_days(
        redis_client, "events", [((DAY1, "s1"), length, packed)], 3600
    )
    assert dropped == 0
    assert redis_client.hlen(keys.raw_feed("events", DAY1, "s1")) == 3
    assert feed_store.released_site_days(redis_client, "events", [(DAY1, "s1")]) == {(DAY1, "s1")}


def test_a_backlog_of_closed_days_is_compacted_a_few_days_an_ingestion(redis_client):
    """A first ingestion after an upgrade finds a month of feed hashes: it compacts the oldest
    `COMPACT_DAYS_AT_ONCE` days, the next ingestion the next ones, until it reaches today."""
    from wanperf_dagster.feeds.ingest import COMPACT_DAYS_AT_ONCE, _compact_closed_days
    from wanperf_dagster.store import bulk

    now = DAY0 + 5 * 86400 + 300  # the sixth day: five closed days of hashes behind it
    days = [day_of(DAY0 + k * 86400) for k in range(6)]
    pipe = redis_client.pipeline(transaction=False)
    bulk.touch_sites(pipe, "org-1", {"s1": now})
    rows = [{"hour": DAY0 + k * 86400 + 3600, "site_id": "s1"} for k in range(6)]
    feed_store.queue_rows(pipe, "sle", rows, 40 * 86400)
    pipe.execute()
    compacted = []
    for _ in range(4):
        state = feed_store.IngestionState(redis_client, "org-1")
        _compact_closed_days(redis_client, "org-1", state, now)
        compacted.append([_stored_everywhere(redis_client, "sle", d, ["s1"])[1] for d in days])
    assert COMPACT_DAYS_AT_ONCE == 2
    assert compacted == [
        [1, 1, 0, 0, 0, 0],
        [1, 1, 1, 1, 0, 0],
        [1, 1, 1, 1, 1, 0],  # today stays a hash
        [1, 1, 1, 1, 1, 0],
    ]
    assert feed_store.IngestionState(redis_client, "org-1").values["compacted_through"] == days[5]
