"""Partitions: UTC days x dynamic sites for per-site data, days/weeks/months for rollups."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from wanperf_dagster.settings import get_settings
from wanperf_dagster.storage import split_site_day_key

SITE_PARTITIONS = "site"

_settings = get_settings()
START_DATE = _settings.start_date  # the first day of history: weeks and months start there
WINDOW_START = _settings.window_start()  # the first day of the day x site partitions
# end_offset=1: today's partition exists too (today so far), which is what a NOC looks at. The
# day partitions are the hot window (WANPERF_HOT_DAYS): a day that leaves it leaves the partitions
# (its stored values stay in the history tier, its weeks and months keep it)
day_partitions = dg.DailyPartitionsDefinition(start_date=WINDOW_START, timezone="UTC", end_offset=1)
site_partitions = dg.DynamicPartitionsDefinition(name=SITE_PARTITIONS)
site_day_partitions = dg.MultiPartitionsDefinition({"day": day_partitions, "site": site_partitions})
_first_day = dt.date.fromisoformat(START_DATE)
# weeks and months start at the week (Monday) and month the first day falls in, so every day of
# the partitions belongs to a week and a month partition
week_partitions = dg.WeeklyPartitionsDefinition(
    start_date=(_first_day - dt.timedelta(days=_first_day.weekday())).isoformat(),
    day_offset=1,
    timezone="UTC",
    end_offset=1,
)
month_partitions = dg.MonthlyPartitionsDefinition(
    start_date=_first_day.replace(day=1).isoformat(),
    timezone="UTC",
    end_offset=1,
)

# a chunked backfill: one run covers up to WANPERF_BACKFILL_CHUNK site-days of one day
site_day_backfill = dg.BackfillPolicy.multi_run(max_partitions_per_run=_settings.backfill_chunk)


def site_day_partition(day: str, site: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"day": day, "site": site})


def split_key(key) -> tuple[str, str]:
    """(day, site) of a `day x site` partition key."""
    if isinstance(key, dg.MultiPartitionKey):
        return key.keys_by_dimension["day"], key.keys_by_dimension["site"]
    return split_site_day_key(key)


PARTITIONINGS = {
    "site_day": site_day_partitions,
    "day": day_partitions,
    "week": week_partitions,
    "month": month_partitions,
}


def partitioning_of(definitions: dg.Definitions) -> dict[str, str]:
    """Each materializable asset's partitioning by name: "site_day", "day", "week", "month", or
    "none" for an unpartitioned one (what the CLI reads to build partition keys)."""
    out = {}
    for node in definitions.resolve_asset_graph().asset_nodes:
        if not node.is_materializable:
            continue
        found = [name for name, p in PARTITIONINGS.items() if node.partitions_def == p]
        out[node.key.to_user_string()] = found[0] if found else "none"
    return out
