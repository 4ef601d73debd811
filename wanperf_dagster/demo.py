"""The demo behind `make run` without a token: replay the last days of the simulated org through
the real client and sweep at simulated times, then materialize those days' snapshots and KPIs into
the Dagster instance, so the UI opens on history."""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Callable

import redis

from wanperf_dagster import store
from wanperf_dagster.mist import MistClient, SweepConfig, run_sweep
from wanperf_dagster.mist.settings import SIM_TOKEN, in_process_simulator
from wanperf_dagster.store import keys

REPLAYED_UNTIL = f"{keys.NAMESPACE}:demo:replayed_until"


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
    r: redis.Redis,
    sites: int,
    seed: int,
    days: float,
    interval: int = 600,
    on_progress: Callable[[int, int, float], None] | None = None,
) -> int:
    """Sweep the simulated org at every slot of the last `days` days not replayed before.
    Returns the number of sweeps made."""
    server = in_process_simulator(sites, seed)
    sim = server.sim
    now = time.time()
    end = int(now // interval * interval)
    start = int((now - days * 86400) // interval * interval)
    done_until = r.get(REPLAYED_UNTIL)
    if done_until:
        start = max(start, int(done_until) + interval)
    slots = list(range(start, end, interval))
    client = MistClient([SIM_TOKEN], server.url, sim.org.id, clock=sim.clock.now, rate_limit=10**9)
    t0 = time.monotonic()
    try:
        for k, slot in enumerate(slots, 1):
            sim.clock.set(slot + 30)
            run_sweep(client, r, SweepConfig(interval_seconds=interval))
            r.set(REPLAYED_UNTIL, slot)
            if on_progress:
                on_progress(k, len(slots), t0)
    finally:
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
    """The days' site_snapshots and circuit_kpis (one chunked run per day), then the rollups,
    recorded in the Dagster instance of DAGSTER_HOME."""
    import warnings

    import dagster as dg

    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=dg.SupersessionWarning)
    from wanperf_dagster.definitions import defs
    from wanperf_dagster.defs.assets import ingest, kpis

    resources = defs.resources
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    everything = [
        ingest.mist_sites,
        kpis.site_snapshots,
        kpis.circuit_kpis,
        kpis.region_kpis,
        kpis.org_kpis,
        kpis.top_offenders,
        kpis.congestion_trends,
    ]
    with dg.DagsterInstance.get() as instance:
        dg.materialize(
            everything,
            selection=[ingest.mist_sites],
            resources=resources,
            instance=instance,
            run_config=quiet,
        )
        sites_table = store.get_tables(
            store.connect(store.resolve_redis_url()), ["mist_sites"], [None]
        )[0][0]
        site_ids = sites_table.column("site_id").to_pylist()
        known = set(instance.get_dynamic_partitions("site"))
        new = [s for s in site_ids if s not in known]
        if new:
            instance.add_dynamic_partitions("site", new)
        ordered = [s for s in instance.get_dynamic_partitions("site") if s in set(site_ids)]
        for day in days:
            t0 = time.monotonic()
            first, last = (
                dg.MultiPartitionKey({"day": day, "site": s}) for s in (ordered[0], ordered[-1])
            )
            dg.materialize(
                everything,
                selection=[kpis.site_snapshots, kpis.circuit_kpis],
                resources=resources,
                instance=instance,
                run_config=quiet,
                tags={
                    "dagster/asset_partition_range_start": first,
                    "dagster/asset_partition_range_end": last,
                    "wanperf/seeded": "true",
                },
            )
            dg.materialize(
                everything,
                selection=[
                    kpis.region_kpis,
                    kpis.org_kpis,
                    kpis.top_offenders,
                    kpis.congestion_trends,
                ],
                resources=resources,
                instance=instance,
                partition_key=day,
                run_config=quiet,
            )
            log(
                f"  {day}: {len(ordered)} site-days of snapshots and KPIs, rollups ({time.monotonic() - t0:.1f} s)"
            )
