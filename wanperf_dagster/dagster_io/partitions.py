"""Partitions: UTC days x dynamic sites for per-site data, days/weeks/months for rollups.

They are built from the settings once, when the code location loads (`Partitions.of`), never
when a module is imported: the day partitions are the hot window (`WANPERF_HOT_DAYS`, or from
`WANPERF_START_DATE`), weeks and months start at the first day of history, and a chunked
backfill covers up to `WANPERF_BACKFILL_CHUNK` site-days a run.
"""

from __future__ import annotations

import datetime as dt
import functools
import weakref
from dataclasses import dataclass

import dagster as dg

from wanperf_dagster.settings import Settings
from wanperf_dagster.storage import split_site_day_key

SITE_PARTITIONS = "site"
site_partitions = dg.DynamicPartitionsDefinition(name=SITE_PARTITIONS)


@dataclass(frozen=True)
class Partitions:
    day: dg.DailyPartitionsDefinition
    site_day: dg.MultiPartitionsDefinition
    week: dg.WeeklyPartitionsDefinition
    month: dg.MonthlyPartitionsDefinition
    site_day_backfill: dg.BackfillPolicy  # a chunk: a day x up to WANPERF_BACKFILL_CHUNK sites
    hot_days: int  # the day partitions' window

    @classmethod
    def of(cls, settings: Settings) -> Partitions:
        return _partitions(
            settings.window_start(), settings.start_date, settings.backfill_chunk, settings.hot_days
        )


@functools.cache
def _partitions(window_start: str, start_date: str, chunk: int, hot_days: int) -> Partitions:
    # end_offset=1: today's partition exists too (today so far), which is what a NOC looks at.
    # A day that leaves the window leaves the partitions (its stored values stay in the history
    # tier, its weeks and months keep it)
    day = dg.DailyPartitionsDefinition(start_date=window_start, timezone="UTC", end_offset=1)
    first_day = dt.date.fromisoformat(start_date)
    # weeks and months start at the week (Monday) and month the first day falls in, so every
    # day of the partitions belongs to a week and a month partition
    week = dg.WeeklyPartitionsDefinition(
        start_date=(first_day - dt.timedelta(days=first_day.weekday())).isoformat(),
        day_offset=1,
        timezone="UTC",
        end_offset=1,
    )
    month = dg.MonthlyPartitionsDefinition(
        start_date=first_day.replace(day=1).isoformat(), timezone="UTC", end_offset=1
    )
    return Partitions(
        day=day,
        site_day=dg.MultiPartitionsDefinition({"day": day, "site": site_partitions}),
        week=week,
        month=month,
        site_day_backfill=dg.BackfillPolicy.multi_run(max_partitions_per_run=chunk),
        hot_days=hot_days,
    )


def end_of_today() -> dt.datetime:
    """Where the partitions' days end: today's is the last (today so far)."""
    return dt.datetime.combine(
        dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1), dt.time(), dt.UTC
    )


def site_day_partition(day: str, site: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"day": day, "site": site})


def split_key(key) -> tuple[str, str]:
    """(day, site) of a `day x site` partition key."""
    if isinstance(key, dg.MultiPartitionKey):
        return key.keys_by_dimension["day"], key.keys_by_dimension["site"]
    return split_site_day_key(key)


def partitioning(partitions_def: dg.PartitionsDefinition | None) -> str:
    """How a partitions definition of this project partitions: "site_day", "day", "week",
    "month", or "none"."""
    if partitions_def is None:
        return "none"
    if isinstance(partitions_def, dg.MultiPartitionsDefinition):
        return "site_day"
    for kind, cls in (
        ("day", dg.DailyPartitionsDefinition),
        ("week", dg.WeeklyPartitionsDefinition),
        ("month", dg.MonthlyPartitionsDefinition),
    ):
        if isinstance(partitions_def, cls):
            return kind
    return "other"


def partitioning_of(definitions: dg.Definitions) -> dict[str, str]:
    """Each materializable asset's partitioning by name (what the registry's tests compare)."""
    return {
        node.key.to_user_string(): partitioning(node.partitions_def)
        for node in definitions.resolve_asset_graph().asset_nodes
        if node.is_materializable
    }


_RUN_KEYS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def run_partition_keys(context: dg.AssetExecutionContext) -> list[str]:
    """The step's partition keys, enumerated once a step.

    `context.partition_keys` enumerates the run's range again on every call, reading every
    dynamic site partition from the instance each time: at 20,000 sites an asset that asked
    three times spent about a second of a 500-site-day chunk run on it (`bench chunk`)."""
    step = context.get_step_execution_context()
    keys = _RUN_KEYS.get(step)
    if keys is None:
        keys = _RUN_KEYS[step] = list(context.partition_keys)
    return keys
