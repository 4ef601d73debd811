"""The history tier's health: files found unreadable are moved aside and healed (`AssetStore`);
this check counts them, so a disk or bucket that corrupts files is seen, not only logged.

It checks `circuit_trends_13m`, the asset that reads the history tier alone, not the site-day
assets whose files it counts: Dagster's evaluation of an unpartitioned check lists every partition
of its asset, 600,000 day x site keys at 20,000 sites, in every run that holds the check, and a
backfill's every chunk run held it (23 % of the chunk runs' CPU at 20,000 sites)."""

import time

import dagster as dg
import pandas as pd

from wanperf_dagster.dagster_io.metadata import circuit_table
from wanperf_dagster.dagster_io.resources import RedisResource

RECENT_DAYS = 7


@dg.asset_check(
    asset="circuit_trends_13m",
    description=f"no history file was found unreadable (and moved aside) in the last "
    f"{RECENT_DAYS} days (warn: their site-days were rewritten from Redis, or come back with "
    "their next materialization)",
)
def history_intact(redis: RedisResource) -> dg.AssetCheckResult:
    moved = redis.asset_store().history_quarantine()
    recent = [q for q in moved if (q["moved_at"] or 0) > time.time() - RECENT_DAYS * 86400]
    return dg.AssetCheckResult(
        passed=not recent,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "moved_aside_recently": len(recent),
            "moved_aside_in_all": len(moved),
            "recent": circuit_table(
                pd.DataFrame(recent, columns=["asset", "day", "file"]), ["asset", "day", "file"]
            ),
        },
    )
