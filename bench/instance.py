"""Instance: what one chunk run of 500 site-days costs Dagster's event log, side by side — the stock
SQLite event log, the same with SQLite's syncs to disk off (`PRAGMA synchronous=OFF`, set here
only, to show what of the stock log's time is the disk's), the project's batched SQLite log (the
`event_log` patch), Postgres as
dagster-postgres ships it, and Postgres with Dagster's event batching on
(`DAGSTER_EVENT_BATCH_SIZE=1000`). The assets do nothing, so the time is the instance's. Each
measurement is a fresh process and a fresh instance (a new Postgres database each time); the
median of three runs per variant.

`python -m bench instance` (postgres-batched is what the project's Postgres instance runs: `instance/postgres_event_log.py`;
env WANPERF_BENCH_PG_URL, default postgresql://postgres@127.0.0.1:5432;
WANPERF_BENCH_INSTANCE_SITES, default 500)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from ._common import row

PG = os.environ.get("WANPERF_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432").rstrip("/")
SITES = int(os.environ.get("WANPERF_BENCH_INSTANCE_SITES", "500"))
REPEAT = 3
VARIANTS = ("sqlite", "sqlite-unsynced", "sqlite-batched", "postgres", "postgres-batched")
PROJECT = Path(__file__).resolve().parent.parent


def _one(variant: str) -> float:
    """In this (fresh) process: one range run of two assets over SITES site-days."""
    import dagster as dg

    site_day = dg.MultiPartitionsDefinition(
        {
            "day": dg.DailyPartitionsDefinition(start_date="2025-11-20", end_date="2025-11-28"),
            "site": dg.StaticPartitionsDefinition([f"site-{i:05d}" for i in range(SITES)]),
        }
    )

    @dg.asset(partitions_def=site_day)
    def snapshots() -> None:
        pass

    @dg.asset(partitions_def=site_day, deps=[snapshots])
    def kpis() -> None:
        pass

    overrides: dict = {}
    if variant == "sqlite-unsynced":
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        @event.listens_for(Engine, "connect")
        def _unsynced(connection, _record) -> None:
            # stock Dagster opens a connection per write and closes it (NullPool): each commit
            # and each close's checkpoint waits for the disk
            cursor = connection.cursor()
            cursor.execute("PRAGMA synchronous=OFF")
            cursor.close()

    if variant == "sqlite-batched":
        from wanperf_dagster.instance.config import BATCHED_SQLITE

        overrides["event_log_storage"] = BATCHED_SQLITE
    elif variant.startswith("postgres"):
        # dagster-postgres as it ships; the batched variant only adds DAGSTER_EVENT_BATCH_SIZE
        overrides["storage"] = {"postgres": {"postgres_url": os.environ["BENCH_PG_DB_URL"]}}
    first, last = (
        dg.MultiPartitionKey({"day": "2025-11-26", "site": s})
        for s in (f"site-{0:05d}", f"site-{SITES - 1:05d}")
    )
    with dg.instance_for_test(overrides=overrides) as instance:
        t0 = time.perf_counter()
        result = dg.materialize(
            [snapshots, kpis],
            instance=instance,
            tags={
                "dagster/asset_partition_range_start": str(first),
                "dagster/asset_partition_range_end": str(last),
            },
        )
        elapsed = time.perf_counter() - t0
        assert result.success
        assert len(instance.get_materialized_partitions(kpis.key)) == SITES
    return elapsed


def _measure(variant: str) -> float:
    import psycopg2

    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_EVENT_BATCH_SIZE"}
    if variant == "postgres-batched":
        env["DAGSTER_EVENT_BATCH_SIZE"] = "1000"
    name = None
    if variant.startswith("postgres"):
        name = f"wanperf_bench_{uuid.uuid4().hex[:10]}"
        admin = psycopg2.connect(f"{PG}/postgres")
        admin.autocommit = True
        admin.cursor().execute(f"CREATE DATABASE {name}")
        env["BENCH_PG_DB_URL"] = f"{PG}/{name}"
    try:
        with tempfile.TemporaryDirectory(prefix="wanperf-bench-instance-") as home:
            env["DAGSTER_HOME"] = home
            out = subprocess.run(
                [sys.executable, "-m", "bench.instance", "--one", variant],
                cwd=PROJECT,
                env=env,
                capture_output=True,
                text=True,
                timeout=900,
            )
        if out.returncode != 0:
            raise RuntimeError(f"{variant}: {out.stderr[-2000:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])["seconds"]
    finally:
        if name:
            admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            admin.close()


def main() -> None:
    print(f"one chunk run: 2 assets x {SITES} site-days, median of {REPEAT} fresh instances")
    medians = {}
    for variant in VARIANTS:
        times = [_measure(variant) for _ in range(REPEAT)]
        medians[variant] = statistics.median(times)
        row(variant, f"{medians[variant]:.2f} s", "  runs: " + ", ".join(f"{t:.1f}" for t in times))
    row("sqlite: stock / batched", f"{medians['sqlite'] / medians['sqlite-batched']:.1f}x")
    row("sqlite: stock / syncs off", f"{medians['sqlite'] / medians['sqlite-unsynced']:.1f}x")
    row(
        "postgres: stock / batched",
        f"{medians['postgres'] / medians['postgres-batched']:.1f}x",
    )
    row(
        "batched sqlite / stock postgres",
        f"{medians['sqlite-batched'] / medians['postgres']:.2f}",
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        print(json.dumps({"seconds": _one(sys.argv[2])}))
    else:
        main()
