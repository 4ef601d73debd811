"""What the feeds' site-day assets share: chunked like each other (one run covers up to
`WANPERF_BACKFILL_CHUNK` site-days of a day, vectorised, the IO manager writing every partition of
the chunk in one pipeline), backfilled by the nightly automation, reading their raw feed through
the storage API and giving each site-day its own metadata."""

import dagster as dg
import pandas as pd

from wanperf_dagster.dagster_io.automation import KPI_BACKFILLS
from wanperf_dagster.dagster_io.metadata import OWNERS, add_partition_metadata
from wanperf_dagster.dagster_io.partitions import (
    Partitions,
    run_partition_keys,
    site_day_partition,
    split_key,
)
from wanperf_dagster.dagster_io.resources import RedisResource
from wanperf_dagster.storage import site_id_of


def chunked(p: Partitions) -> dict:
    """A single-output day x site asset, chunked and backfilled like the others."""
    return dict(
        partitions_def=p.site_day,
        backfill_policy=p.site_day_backfill,
        automation_condition=KPI_BACKFILLS,
        group_name="kpis",
        kinds={"pandas", "redis"},
        owners=OWNERS,
    )


def site_day_out(description: str, schema: dg.TableSchema) -> dg.AssetOut:
    """An output of a chunked day x site step, backfilled by the nightly automation (how it is
    stored, hot and in history, is its record in storage/datasets.py)."""
    return dg.AssetOut(
        kinds={"pandas", "redis"},
        owners=OWNERS,
        automation_condition=KPI_BACKFILLS,
        metadata={"dagster/column_schema": schema},
        description=description,
    )


def read_feed(context, redis: RedisResource, feed: str) -> tuple[list, pd.DataFrame]:
    """The run's (day, site key) pairs, and the raw feed's rows of them."""
    pairs = [split_key(k) for k in run_partition_keys(context)]
    frame = redis.asset_store().read_feed(feed, [(d, site_id_of(s)) for d, s in pairs])
    if frame.attrs.get("invalid_values"):
        context.log.warning(
            f"{frame.attrs['invalid_values']} unreadable stored {feed} values dropped"
        )
    return pairs, frame


def per_partition(context, settings, asset: str, pairs, frame: pd.DataFrame, figures) -> None:
    """Each site-day's own figures (`figures(rows)` of its rows, or of no rows), also when a
    run spans several days."""
    groups = {}
    if len(frame):
        when = next(c for c in ("day", "ts", "hour") if c in frame)
        days = frame[when].astype(str) if when == "day" else frame[when].dt.strftime("%Y-%m-%d")
        groups = dict(tuple(frame.groupby([days, frame["site_id"].astype(str)], observed=True)))
    empty = frame.iloc[:0]
    add_partition_metadata(
        context,
        asset,
        {
            site_day_partition(day, site): figures(groups.get((day, site_id_of(site)), empty))
            for day, site in pairs
        },
        settings,
    )


def score(value, places: int = 4):
    """A figure for the UI: rounded, None when there is none."""
    return None if pd.isna(value) else round(float(value), places)
