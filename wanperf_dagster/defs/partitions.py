"""Partitions: UTC days × dynamic sites for per-site data, days/weeks/months for rollups."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import dagster as dg

from wanperf_dagster.store import data_dir_from_env

SITE_PARTITIONS = "site"


def start_date() -> str:
    """`WANPERF_START_DATE`, else a date fixed the first time the project loads (three days
    before then, which the demo replays) and kept in the data directory, so history never moves."""
    env = os.environ.get("WANPERF_START_DATE")
    if env:
        return env
    path = Path(data_dir_from_env()) / "start_date"
    if path.exists():
        return path.read_text().strip()
    value = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=3)).isoformat()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(value)
    return value


START_DATE = start_date()
# end_offset=1: today's partition exists too (today so far), which is what a NOC looks at
day_partitions = dg.DailyPartitionsDefinition(start_date=START_DATE, timezone="UTC", end_offset=1)
site_partitions = dg.DynamicPartitionsDefinition(name=SITE_PARTITIONS)
site_day_partitions = dg.MultiPartitionsDefinition({"day": day_partitions, "site": site_partitions})
week_partitions = dg.WeeklyPartitionsDefinition(
    start_date=START_DATE, day_offset=1, timezone="UTC", end_offset=1
)
month_partitions = dg.MonthlyPartitionsDefinition(
    start_date=dt.date.fromisoformat(START_DATE).replace(day=1).isoformat(),
    timezone="UTC",
    end_offset=1,
)

# a chunked backfill: one run covers up to this many site-days of one day
BACKFILL_CHUNK = int(os.environ.get("WANPERF_BACKFILL_CHUNK") or 500)
site_day_backfill = dg.BackfillPolicy.multi_run(max_partitions_per_run=BACKFILL_CHUNK)


def site_day_key(day: str, site: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"day": day, "site": site})


def split_key(key) -> tuple[str, str]:
    """(day, site) of a `day|site` partition key."""
    if isinstance(key, dg.MultiPartitionKey):
        return key.keys_by_dimension["day"], key.keys_by_dimension["site"]
    day, site = str(key).split("|", 1)
    return day, site
