"""The demo behind `make run` without a token: replay the last days of the simulated org through
the real client and sweep at simulated times, then materialize those days' snapshots and KPIs into
the Dagster instance, so the UI opens on history."""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Callable

from wanperf_dagster import store
from wanperf_dagster.feeds import InsightsConfig, run_insights
from wanperf_dagster.mist import MistClient, SweepConfig, run_sweep, sweep_orgs
from wanperf_dagster.settings import INSIGHT_FEEDS, Settings
from wanperf_dagster.sources import SIM_TOKEN, in_process_simulator, org_clients
from wanperf_dagster.storage import AssetStore


def progress_bar(done: int, total: int, started: float, label: str) -> None:
    width = 30
    filled = int(width * done / max(total, 1))
    rate = done / max(time.monotonic() - started, 1e-9)
    eta = (total - done) / rate if rate > 0 else 0
    sys.stdout.write(
        f"\r  {label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}  eta {eta:4.0f} s "
    )
    sys.stdout.flush()
    if done >= total:
        sys.stdout.write("\n")


def replay(
    r: store.Redis,
    sites: int,
    seed: int,
    days: float,
    interval: int = Settings.poll_interval,
    on_progress: Callable[[int, int, float], None] | None = None,
    feeds: tuple[str, ...] = INSIGHT_FEEDS,
    msp: tuple[tuple[int, int], ...] = (),
) -> int:
    """Sweep the simulated org (or, with `msp`, every org of the simulated MSP), and ingest its
    WAN insight feeds, at every slot of the last `days` days not replayed before. Returns the
    number of sweeps made."""
    server = in_process_simulator(sites, seed, msp=msp)
    sim = server.sim
    now = time.time()
    end = int(now // interval * interval)
    start = int((now - days * 86400) // interval * interval)
    assets = AssetStore(r)  # the sweeps' bookkeeping, beside what they write
    done_until = assets.replayed_until()
    if done_until is not None:
        start = max(start, done_until + interval)
    slots = list(range(start, end, interval))
    if msp:
        clients = org_clients(
            None, None, sim_sites=sites, sim_seed=seed, sim_msp=msp, rate_limit=10**9
        )
    else:
        clients = [
            MistClient([SIM_TOKEN], server.url, sim.org.id, clock=sim.clock.now, rate_limit=10**9)
        ]
    # the feeds follow the replay slot by slot: the first slot looks back one slot, and the
    # state in Redis carries the cursors on from there (or from an earlier replay)
    insights = InsightsConfig(
        interval_seconds=interval, sle_backfill_hours=1, events_lookback_seconds=interval
    )
    t0 = time.monotonic()
    try:
        for k, slot in enumerate(slots, 1):
            assets.hold_sweeps(60)  # the scheduled sweep yields to the replay
            sim.clock.set(slot + 30)
            config = SweepConfig(interval_seconds=interval)
            if len(clients) == 1:
                run_sweep(clients[0], r, config)
            else:
                for org in sweep_orgs(clients, r, config):
                    if org.error:
                        raise RuntimeError(f"the replay's sweep of org {org.org_id}: {org.error}")
            for client in clients if feeds else ():
                run_insights(client, r, insights, feeds=feeds)
            assets.set_replayed_until(slot)
            if on_progress:
                on_progress(k, len(slots), t0)
    finally:
        assets.release_sweeps()
        sim.clock.set(None)  # back to real time for whatever runs next in this process
    return len(slots)


def days_touched(days: float, now: dt.datetime, start_date: str) -> list[str]:
    """The calendar days (UTC) a replay of `days` x 24 h back from `now` touched, newest first,
    none before the day partitions start."""
    newest, oldest = now.date(), (now - dt.timedelta(days=days)).date()
    touched = [
        (newest - dt.timedelta(days=k)).isoformat() for k in range((newest - oldest).days + 1)
    ]
    return [d for d in touched if d >= start_date]


def materialize_days(days: list[str], log=print) -> None:
    """The inventory, every day's site_snapshots, then per day, oldest first, its circuit_kpis (one
    chunked run) and day rollups, then the weeks and months of those days, recorded in the
    Dagster instance of DAGSTER_HOME (the newest day ends as each asset's latest
    materialization)."""
    import dagster as dg

    from wanperf_dagster.dagster_io.metadata import CADENCE_TAG
    from wanperf_dagster.dagster_io.partitions import (
        SITE_PARTITIONS,
        Partitions,
        partitioning,
        site_day_partition,
    )
    from wanperf_dagster.definitions import defs
    from wanperf_dagster.settings import get_settings
    from wanperf_dagster.storage import site_partition_keys

    definitions = defs()
    partitions = Partitions.of(get_settings())
    assets = list(definitions.assets)
    resources = definitions.resources
    graph = definitions.resolve_asset_graph()
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    per_site_day = dg.AssetSelection.groups("kpis")
    snapshots = per_site_day.roots()  # site_snapshots: the group's entry point
    day_rollups = dg.AssetSelection.groups("rollups") & dg.AssetSelection.keys(
        *[n.key for n in graph.asset_nodes if partitioning(n.partitions_def) == "day"]
    )

    def site_partitions_of(instance) -> list[str]:
        return instance.get_dynamic_partitions(SITE_PARTITIONS)

    with dg.DagsterInstance.get() as instance:
        dg.materialize(
            assets,
            selection=dg.AssetSelection.tag(CADENCE_TAG, "hourly"),
            resources=resources,
            instance=instance,
            run_config=quiet,
        )
        inventory = AssetStore.from_settings(get_settings()).latest("mist_sites").to_pandas()
        current, new = site_partition_keys(
            list(inventory["site_id"]), list(inventory["name"]), site_partitions_of(instance)
        )
        if new:  # what the site partitions sensor would add: `<name>_<site id>`
            instance.add_dynamic_partitions(SITE_PARTITIONS, new)
        wanted = set(current)
        ordered = [k for k in site_partitions_of(instance) if k in wanted]

        def site_day_range(day: str) -> dict[str, str]:
            first, last = (site_day_partition(day, s) for s in (ordered[0], ordered[-1]))
            return {
                "dagster/asset_partition_range_start": first,
                "dagster/asset_partition_range_end": last,
                "wanperf/seeded": "true",
            }

        # every day's snapshots first: a day's KPIs read the previous day's (the interval
        # across midnight), and the KPIs are filled newest day first
        t0 = time.monotonic()
        for day in sorted(days):
            dg.materialize(
                assets,
                selection=snapshots,
                resources=resources,
                instance=instance,
                run_config=quiet,
                tags=site_day_range(day),
            )
        log(
            f"  snapshots of {len(days)} day(s) x {len(ordered)} sites ({time.monotonic() - t0:.1f} s)"
        )
        for day in sorted(days):  # oldest first: the newest day is the latest materialization
            t0 = time.monotonic()
            dg.materialize(
                assets,
                selection=per_site_day - snapshots,
                resources=resources,
                instance=instance,
                run_config=quiet,
                tags=site_day_range(day),
            )
            dg.materialize(
                assets,
                selection=day_rollups,
                resources=resources,
                instance=instance,
                partition_key=day,
                run_config=quiet,
            )
            log(
                f"  {day}: KPIs of {len(ordered)} site-days, rollups ({time.monotonic() - t0:.1f} s)"
            )
        # the weeks and months those days belong to
        t0 = time.monotonic()
        for kind, partitions_def in (("week", partitions.week), ("month", partitions.month)):
            periods = sorted({_period_key(partitions_def, day) for day in days})
            selection = dg.AssetSelection.keys(
                *[n.key for n in graph.asset_nodes if partitioning(n.partitions_def) == kind]
            )
            for period in periods:
                dg.materialize(
                    assets,
                    selection=selection,
                    resources=resources,
                    instance=instance,
                    partition_key=period,
                    run_config=quiet,
                )
        log(f"  weeks and months of those days ({time.monotonic() - t0:.1f} s)")


def _period_key(partitions_def, day: str) -> str:
    start = dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC)
    return partitions_def.get_partition_key_for_timestamp(start.timestamp())
