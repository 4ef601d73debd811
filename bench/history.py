"""The two storage tiers for a 2,000-site org: bytes per circuit-day in Redis (hot) and in the
Parquet history; what 13 months cost in each; the 13-month query in DuckDB; one old site-day read
through the storage API the IO manager uses; partitions per asset with the hot window.

`python -m bench history` (env WANPERF_BENCH_HISTORY_SITES, default 2000;
WANPERF_BENCH_HISTORY_DAYS, default 400).

Two days of 10-minute samples from the simulator's world go through the real write path into
both tiers (snapshots, daily and hourly KPIs): that gives the bytes. For the 13 months, seven
simulated days of KPIs are cycled over 400 days (each day's utilisation nudged along a trend,
so the trends differ) and written through the history tier's real write path, one file a day.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time

import numpy as np
import pandas as pd
import pyarrow as pa

from wanperf_dagster import kpi
from wanperf_dagster.history import HistoryStore, history_connection, thirteen_month_trends
from wanperf_dagster.history.query import MEMORY_LIMIT
from wanperf_dagster.settings import RAW_SAMPLE_DAYS, SNAPSHOT_DAYS
from wanperf_dagster.simulator import World, build_org
from wanperf_dagster.simulator.samples import world_samples
from wanperf_dagster.storage import AssetStore, history_datasets, site_day_key, site_key
from wanperf_dagster.store import connect, keys
from wanperf_dagster.store.partitioning import split_by_partition

from ._common import bench_redis, child_report, row, store_samples

SITES = int(os.environ.get("WANPERF_BENCH_HISTORY_SITES", "2000"))
DAYS = int(os.environ.get("WANPERF_BENCH_HISTORY_DAYS", "400"))
HOT_DAYS = 35
DAY0 = 1_764_115_200  # 2025-11-26
GIB = 2**30


def _by_site(frame: pd.DataFrame, names: dict[str, str], day: str) -> dict[str, pa.Table]:
    """The frame cut into site-day partitions the way the IO manager cuts a chunk."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    columns = ["ts" if "ts" in frame.columns else "day", "site_id"]
    parts = split_by_partition(table, columns)
    return {
        site_day_key(day, site_key(names[key.split("|")[1]], key.split("|")[1])): part
        for key, part in parts.items()
    }


def _raw_bytes_per_circuit_day(client, world, names, assets) -> tuple[float, float, float, int]:
    """What a day of sweeps stores as raw samples (the hashes `site_snapshots` reads), per
    circuit: one day of 10-minute slots of 100 sites through `store.samples`; then the same day
    once it has closed, compacted (one value per site-day), and the seconds that took; then
    the bytes left once its snapshots are saved to both tiers (the raw samples released)."""
    from wanperf_dagster.store import samples as sample_store

    ports = [i for i in world.org.wan_port_indices() if world.org.arrays["site"][i] < 100]
    frame = world_samples(world, DAY0, 144, ports=ports)
    frame = frame.assign(ts=(frame["ts"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1))
    store_samples(client, frame)

    def stored(pattern: str) -> int:
        return sum(client.memory_usage(k, samples=0) or 0 for k in client.scan_iter(pattern))

    hashes = stored(keys.raw_samples("*", "*").replace("{*|*}", "*"))
    day = pd.Timestamp(DAY0, unit="s").strftime("%Y-%m-%d")
    sites = sorted(frame["site_id"].unique())
    t0 = time.perf_counter()
    done = sample_store.compact_site_days(client, [(day, s) for s in sites])
    seconds = time.perf_counter() - t0
    assert done.site_days == len(sites)
    packed = stored(keys.raw_packed("*", "*").replace("{*|*}", "*"))
    snapshots = sample_store.read_site_days(client, [(day, s) for s in sites])
    assets.save("site_snapshots", _by_site(snapshots, names, day), None, keep_history=True)
    left = stored(keys.raw_packed("*", "*").replace("{*|*}", "*")) + stored(
        keys.raw_samples("*", "*").replace("{*|*}", "*")
    )
    assets.client.delete(
        *[keys.asset_value(["site_snapshots"], k) for k in _by_site(snapshots, names, day)]
    )
    return hashes / len(ports), packed / len(ports), seconds / len(sites), left


FEED_SITES = 100  # the sites whose insight feeds a day is ingested of, over HTTP


def _feed_bytes_per_site_day(store: AssetStore) -> tuple[dict, dict[str, float]]:
    """What a day of the insight feeds stores per site, feed by feed (a day of ingestions
    every 10 minutes, from the simulator over HTTP, through the real ingestion): a whole day
    as hashes (the first day, today's hourly folding off: as before), by the end of a day with
    it on (the second day: the day's value and its last hour's hashes), the first day compacted
    once closed, and the bytes left once the feeds' assets of it are in the history tier."""
    from wanperf_dagster.feeds import InsightsConfig, ingest, run_insights
    from wanperf_dagster.mist import MistClient, SweepConfig, run_sweep
    from wanperf_dagster.simulator import MistSimulator, SimulatorConfig, SimulatorServer
    from wanperf_dagster.store import insights as feed_store
    from wanperf_dagster.store import samples as sample_store

    client = store.client
    sim = MistSimulator(SimulatorConfig(sites=FEED_SITES, seed=1, now=DAY0, tokens=("bench",)))
    config = InsightsConfig(sle_backfill_hours=1, events_lookback_seconds=3600)
    day, day2 = (pd.Timestamp(DAY0 + k * 86400, unit="s").strftime("%Y-%m-%d") for k in (0, 1))
    sites = [s.id for s in sim.org.sites]

    def stored(feed: str, key, when: str = day) -> int:
        pipe = client.pipeline(transaction=False)
        for site in sites:
            pipe.memory_usage(key(feed, when, site), samples=0)
        return sum(n or 0 for n in pipe.execute())

    with SimulatorServer(sim) as server:
        mist = MistClient(["bench"], server.url, clock=sim.clock.now, sleep=lambda s: None)

        def slots(first: int, end: int) -> None:
            for k in range(first, end):
                sim.clock.set(DAY0 + k * 600 + 30)
                run_sweep(mist, client, SweepConfig())
                run_insights(mist, client, config)

        folding = ingest._compact_today
        ingest._compact_today = lambda *args: None  # the first day as before: hashes all day
        try:
            slots(-1, 144)
        finally:
            ingest._compact_today = folding
        hashes = {f: stored(f, keys.raw_feed) for f in feed_store.FEEDS}
        # what the next day's first ingestion does to the day: half the sites a site-day a
        # round trip (as before), the other half `COMPACT_BATCH` at a time (as now)
        seconds = {}
        for label, batch, half in (("one", 1, sites[::2]), ("batched", None, sites[1::2])):
            default = sample_store.COMPACT_BATCH
            sample_store.COMPACT_BATCH = batch or default
            t0 = time.perf_counter()
            done = feed_store.compact_days(client, half, [day])
            seconds[label] = (time.perf_counter() - t0) / max(done.site_days, 1)
            sample_store.COMPACT_BATCH = default
            assert done.site_days >= len(half), done
        slots(144, 288)  # the second day, today's hours folded as they go by
        folded = {
            f: stored(f, keys.raw_feed, day2) + stored(f, keys.raw_feed_packed, day2)
            for f in feed_store.FEEDS
        }
    packed = {f: stored(f, keys.raw_feed_packed) for f in feed_store.FEEDS}
    names = {s.id: s.name for s in sim.org.sites}
    for asset in ("site_sle", "vpn_path_kpis", "port_events", "gateway_status"):
        tables = {
            site_day_key(day, site_key(names[s], s)): pa.table({"day": [day], "site_id": [s]})
            for s in sites
        }
        store.save(asset, tables, None, keep_history=True)
    left = {f: stored(f, keys.raw_feed) + stored(f, keys.raw_feed_packed) for f in feed_store.FEEDS}
    per_feed = {
        f: (hashes[f] / FEED_SITES, folded[f] / FEED_SITES, packed[f] / FEED_SITES, left[f])
        for f in hashes
    }
    return per_feed, seconds


def _redis_bytes(client, asset: str) -> int:
    total = 0
    pattern = keys.asset_value([asset], "*").replace("{*}", "*")
    for key in client.scan_iter(pattern, count=5000):
        total += client.memory_usage(key, samples=0) or 0
    return total


def main() -> None:
    world = World(build_org(seed=1, n_sites=SITES))
    names = {s.id: s.name for s in world.org.sites}
    config = kpi.KpiConfig(site_names=names)
    with bench_redis() as (url, _), tempfile.TemporaryDirectory(prefix="wanperf-history-") as tmp:
        client = connect(url)
        history = HistoryStore(f"{tmp}/history")
        store = AssetStore(client, history=history)
        circuits = 0
        t0 = time.time()
        previous = None
        for k in range(2):  # two real days through both tiers
            day = pd.Timestamp(DAY0 + k * 86400, unit="s").strftime("%Y-%m-%d")
            samples = world_samples(world, DAY0 + k * 86400, 144)
            both = pd.concat([previous, samples]) if previous is not None else samples
            hourly, daily = kpi.circuit_kpis(both, 10, config, days=[day])
            for asset, frame in (
                ("site_snapshots", samples),
                ("circuit_kpis", daily),
                ("circuit_kpis_hourly", hourly),
            ):
                store.save(asset, _by_site(frame, names, day), HOT_DAYS * 86400, keep_history=True)
            circuits += len(daily)
            previous = samples
        print(f"(2 days of {SITES:,} sites through both tiers in {time.time() - t0:.0f} s)")

        print(f"\n== storage tiers: {SITES:,} sites, {circuits // 2:,} circuits ==")
        row("bytes per circuit-day", "Redis (hot)", "Parquet (history)")
        hot_total = cold_total = 0
        per_asset = {}
        for asset in ("site_snapshots", "circuit_kpis", "circuit_kpis_hourly"):
            redis_b = per_asset[asset] = _redis_bytes(client, asset) / circuits
            files = history.files(asset)[0]
            parquet_b = sum(history.fs.get_file_info(f).size for f in files) / circuits
            hot_total += redis_b
            cold_total += parquet_b
            row(f"  {asset}", f"{redis_b:,.0f}", f"{parquet_b:,.0f}")
        per_day_circuits = circuits // 2
        row("  all three", f"{hot_total:,.0f}", f"{cold_total:,.0f}")
        raw, packed, per_site_day, left = _raw_bytes_per_circuit_day(client, world, names, store)
        row("  raw samples of today (the sweep's hashes)", f"{raw:,.0f}", "-")
        row("  raw samples of a closed day (compacted)", f"{packed:,.0f}", "-")
        row("  compaction, ms per site-day", f"{per_site_day * 1000:.1f}")
        row("  raw samples left once the day's snapshots are in the history (bytes)", f"{left:,}")
        # today and yesterday (until the first sweep of today compacts it) as hashes, the other
        # days of the raw lifetime compacted
        raw_gib = raw * per_day_circuits * RAW_SAMPLE_DAYS / GIB
        raw_packed_gib = (raw * 2 + packed * (RAW_SAMPLE_DAYS - 2)) * per_day_circuits / GIB
        # now: today's hashes, and yesterday's and the day before's compacted until the rolling
        # backfill (03:40) saves the day before's snapshots to the history and releases them
        raw_now_gib = (raw + packed * 2) * per_day_circuits / GIB
        hot_all_gib = hot_total * per_day_circuits * HOT_DAYS / GIB
        snap = per_asset["site_snapshots"]
        hot_gib = ((hot_total - snap) * HOT_DAYS + snap * SNAPSHOT_DAYS) * per_day_circuits / GIB
        cold_gib = cold_total * per_day_circuits * 400 / GIB
        all_redis_gib = hot_total * per_day_circuits * 400 / GIB
        row(f"Redis, asset values, all {HOT_DAYS} hot days (before)", f"{hot_all_gib:.2f} GiB")
        row(
            f"Redis, asset values, site_snapshots {SNAPSHOT_DAYS} days, KPIs {HOT_DAYS}",
            f"{hot_gib:.2f} GiB",
        )
        row(f"Redis, raw samples, {RAW_SAMPLE_DAYS} days as hashes (before)", f"{raw_gib:.2f} GiB")
        row(
            f"Redis, raw samples, {RAW_SAMPLE_DAYS} days, closed ones compacted (before)",
            f"{raw_packed_gib:.2f} GiB",
        )
        row(
            "Redis, raw samples, today's, and 2 closed days until released",
            f"{raw_now_gib:.2f} GiB",
        )
        feeds, compaction_s = _feed_bytes_per_site_day(store)
        row(
            "  feeds' compaction, ms per site-day: one a round trip / 100",
            f"{compaction_s['one'] * 1000:.2f} / {compaction_s['batched'] * 1000:.2f}",
            f"{compaction_s['one'] / compaction_s['batched']:.1f}x",
        )
        row(
            f"per site-day, insight feeds ({FEED_SITES} sites' days)",
            "a day as hashes / by midnight, hours folded",
            "closed, compacted",
        )
        for feed, (today_b, folded_b, packed_b, left_b) in feeds.items():
            row(
                f"  {feed} (left once released: {left_b} B)",
                f"{today_b:,.0f} / {folded_b:,.0f}",
                f"{packed_b:,.0f}",
            )
        today_all = sum(t for t, _, _, _ in feeds.values())
        folded_all = sum(f for _, f, _, _ in feeds.values())
        packed_all = sum(p for _, _, p, _ in feeds.values())
        # before: every feed's 31 days as hashes; now: today's (its hours folded as they go
        # by), and yesterday's and the day before's compacted until the rolling backfill
        # releases them to the history
        feeds_before_gib = today_all * SITES * RAW_SAMPLE_DAYS / GIB
        feeds_compacted_gib = (today_all * 2 + packed_all * (RAW_SAMPLE_DAYS - 2)) * SITES / GIB
        feeds_released_gib = (today_all + packed_all * 2) * SITES / GIB
        feeds_now_gib = (folded_all + packed_all * 2) * SITES / GIB
        row(
            f"Redis, insight feeds, {RAW_SAMPLE_DAYS} days as hashes (first)",
            f"{feeds_before_gib:.2f} GiB",
        )
        row(
            f"Redis, insight feeds, {RAW_SAMPLE_DAYS} days, closed ones compacted (not released)",
            f"{feeds_compacted_gib:.2f} GiB",
        )
        row(
            "Redis, insight feeds, today's hashes, and 2 closed days until released (before)",
            f"{feeds_released_gib:.2f} GiB",
        )
        row(
            "Redis, insight feeds, today's hours folded, and 2 closed days until released",
            f"{feeds_now_gib:.2f} GiB",
        )
        row(
            "Redis, all of it, before (asset values + raw samples compacted + feeds as hashes)",
            f"{hot_all_gib + raw_packed_gib + feeds_before_gib:.2f} GiB",
        )
        row(
            "Redis, all of it (goal <= 2 GiB)",
            f"{hot_gib + raw_now_gib + feeds_now_gib:.2f} GiB",
        )
        row("Redis if all 13 months stayed hot (before)", f"{all_redis_gib:.2f} GiB")
        row("history, 13 months (400 days), on disk", f"{cold_gib:.2f} GiB")
        row(f"day x site partitions per asset ({HOT_DAYS + 1} days)", f"{(HOT_DAYS + 1) * SITES:,}")

        # 13 months of daily KPIs through the history tier's write path
        t0 = time.time()
        base = []
        for k in range(7):
            samples = world_samples(world, DAY0 + (k + 2) * 86400, 24, interval_s=3600)
            base.append(kpi.daily_circuit_kpis(samples, 60, config))
        start = pd.Timestamp("2025-11-01")
        for d in range(DAYS):
            day = (start + pd.Timedelta(days=d)).date()
            frame = base[d % 7].copy()
            frame["day"] = day
            drift = (d / DAYS) * (np.arange(len(frame)) % 7 - 3)  # some circuits rise, some fall
            frame["util_p95_pct"] = (frame["util_p95_pct"] + drift).clip(0, 100)
            parts = split_by_partition(
                pa.Table.from_pandas(frame, preserve_index=False), ["day", "site_id"]
            )
            tables = {key.split("|")[1]: part for key, part in parts.items()}
            history.write_site_days("circuit_kpis", day.isoformat(), tables)
        print(f"\n({DAYS} days of circuit_kpis written to the history in {time.time() - t0:.0f} s)")
        end_month = (start + pd.Timedelta(days=DAYS - 1)).strftime("%Y-%m-01")
        times = []
        for _ in range(3):
            with history_connection(history, history_datasets()) as con:
                t0 = time.perf_counter()
                out = thirteen_month_trends(con, end_month)
                times.append(time.perf_counter() - t0)
        row(
            "13-month trend query (DuckDB), median of 3",
            f"{statistics.median(times):.2f} s",
            f"{out.num_rows:,} circuits",
        )

        # one old site-day, as the IO manager reads it when Redis no longer has it
        old_day = (start + pd.Timedelta(days=min(30, DAYS - 1))).date().isoformat()
        site = world.org.sites[17].id
        key = site_day_key(old_day, site_key(names[site], site))
        reads = []
        for _ in range(7):
            t0 = time.perf_counter()
            loaded = store.load("circuit_kpis", [key])
            reads.append(time.perf_counter() - t0)
        assert loaded.found == 1
        row(
            "one old site-day through the storage API (history), median of 7",
            f"{statistics.median(reads) * 1000:.0f} ms",
        )

        # circuit_trends_13m's work (the trends and every circuit's daily p95, as the asset
        # reads them) in a process of its own: DuckDB held to its limit, and with its defaults
        capped, free = [], []
        for _ in range(3):
            for runs, how in ((capped, "capped"), (free, "default")):
                runs.append(
                    child_report(
                        "history", dict(os.environ), "--trends", tmp, end_month, how, timeout=900
                    )
                )
        for runs, label in (
            (capped, f"DuckDB held to {MEMORY_LIMIT}"),
            (free, "DuckDB's defaults"),
        ):
            row(
                f"circuit_trends_13m's query, its own process, {label}",
                f"{statistics.median(r['seconds'] for r in runs):.2f} s",
                f"peak {statistics.median(r['peak_mib'] for r in runs):,.0f} MiB",
            )


def _trends(tmp: str, end_month: str, how: str) -> None:
    """The 13-month trends and daily p95 over the history in `tmp`, in this process: REPORT its
    seconds and peak RSS."""
    from wanperf_dagster.history import daily_p95

    from .sla import _own_peak_mib

    history = HistoryStore(f"{tmp}/history")
    t0 = time.perf_counter()
    limit = MEMORY_LIMIT if how == "capped" else None
    with history_connection(history, history_datasets(), memory_limit=limit) as con:
        trends, daily = thirteen_month_trends(con, end_month), daily_p95(con, end_month)
    seconds = time.perf_counter() - t0
    report = {
        "seconds": seconds,
        "peak_mib": _own_peak_mib(),
        "rows": trends.num_rows + daily.num_rows,
    }
    print("REPORT " + json.dumps(report))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--trends"]:
        _trends(*sys.argv[2:5])
    else:
        main()
