"""From swept samples to KPIs, per site-day: snapshots, then daily and hourly circuit KPIs.

Both run chunked: one run covers up to `WANPERF_BACKFILL_CHUNK` site-days of a day, vectorised, and
the IO manager writes every partition of the chunk in one pipeline.
"""

import datetime as dt

import dagster as dg
import pandas as pd

from wanperf_dagster import kpi
from wanperf_dagster.dagster_io.metadata import (
    OWNERS,
    PARTITION_COLUMNS,
    TTL_SECONDS,
    frame_column_schema,
    markdown_table,
)
from wanperf_dagster.dagster_io.partitions import site_day_backfill, site_day_partitions, split_key
from wanperf_dagster.dagster_io.resources import RedisResource
from wanperf_dagster.dagster_io.storage import site_day_key, site_id_of
from wanperf_dagster.settings import get_settings
from wanperf_dagster.store import samples as sample_store

from .automation import KPI_BACKFILLS

SITE_DAY_COLUMNS = {"day": "day", "site": "site_id"}
SNAPSHOT_TTL = get_settings().snapshot_ttl_seconds
# declared schemas (the data contracts): shown in the UI without repeating them per partition
SNAPSHOT_SCHEMA = frame_column_schema(sample_store.samples_frame([], []))
DAILY_SCHEMA = frame_column_schema(kpi.empty_kpis("daily"))
HOURLY_SCHEMA = frame_column_schema(kpi.empty_kpis("hourly"))
COVERAGE_WARN_PCT = 90.0


def _only(frame: pd.DataFrame, site_days: list[tuple[str, str]]) -> pd.DataFrame:
    """The rows of the given (day, site) pairs."""
    pairs = pd.MultiIndex.from_arrays([frame["day"].astype(str), frame["site_id"].astype(str)])
    return frame[pairs.isin(site_days)].reset_index(drop=True)


@dg.asset(
    partitions_def=site_day_partitions,
    backfill_policy=site_day_backfill,
    automation_condition=KPI_BACKFILLS,
    deps=["raw_port_stats"],
    group_name="kpis",
    kinds={"pandas", "redis"},
    owners=OWNERS,
    metadata={
        PARTITION_COLUMNS: {"day": "ts", "site": "site_id"},
        TTL_SECONDS: SNAPSHOT_TTL,
        "dagster/column_schema": SNAPSHOT_SCHEMA,
    },
    check_specs=[
        dg.AssetCheckSpec(
            "no_duplicate_samples",
            asset="site_snapshots",
            description="at most one sample per circuit and sample instant",
        )
    ],
    description="One site's samples of one UTC day (one row per WAN port per sample slot), "
    "consolidated from the sweep's raw samples into one Arrow table.",
)
def site_snapshots(context: dg.AssetExecutionContext, redis: RedisResource):
    pairs = [split_key(k) for k in context.partition_keys]
    frame = sample_store.read_site_days(redis.get_client(), [(d, site_id_of(s)) for d, s in pairs])
    # which partition key each site has, for readers without a Dagster instance (the CLI)
    redis.asset_store().register_site_keys(sorted({s for _, s in pairs}))
    dupes = int(frame.duplicated(["ts", "circuit_id"]).sum())
    yield dg.Output(
        frame,
        metadata={
            "site_days": len(pairs),
            "circuits": int(frame["circuit_id"].nunique()),
            "samples": len(frame),
            # stored values that could not be read (dropped, counted): 0 since the normaliser
            # enforces the schema
            "invalid_values": int(frame.attrs.get(sample_store.INVALID_VALUES, 0)),
        },
    )
    yield dg.AssetCheckResult(
        check_name="no_duplicate_samples", passed=dupes == 0, metadata={"duplicates": dupes}
    )


@dg.multi_asset(
    partitions_def=site_day_partitions,
    backfill_policy=site_day_backfill,
    group_name="kpis",
    outs={
        "circuit_kpis": dg.AssetOut(
            kinds={"pandas", "redis"},
            owners=OWNERS,
            automation_condition=KPI_BACKFILLS,
            metadata={
                PARTITION_COLUMNS: SITE_DAY_COLUMNS,
                TTL_SECONDS: SNAPSHOT_TTL,
                "dagster/column_schema": DAILY_SCHEMA,
            },
            description="Daily KPIs per circuit: availability, flaps, utilisation (avg/p95/max, time "
            "above 70/80/90 %), volume, errors, quality, failover. See docs/kpis.md.",
        ),
        "circuit_kpis_hourly": dg.AssetOut(
            kinds={"pandas", "redis"},
            owners=OWNERS,
            automation_condition=KPI_BACKFILLS,
            metadata={
                PARTITION_COLUMNS: SITE_DAY_COLUMNS,
                TTL_SECONDS: SNAPSHOT_TTL,
                "dagster/column_schema": HOURLY_SCHEMA,
            },
            description="The same KPIs per circuit and UTC hour.",
        ),
    },
    check_specs=[
        dg.AssetCheckSpec(
            "kpi_bounds",
            asset="circuit_kpis",
            description="daily and hourly rows within their bounds: "
            + "; ".join(kpi.BOUNDS_RULES.values())
            + " (none)",
        ),
        dg.AssetCheckSpec(
            "coverage",
            asset="circuit_kpis",
            description=f"circuits observed under {COVERAGE_WARN_PCT:.0f} % of the day (warn)",
        ),
    ],
)
def circuit_kpis(
    context: dg.AssetExecutionContext,
    redis: RedisResource,
    site_snapshots: pd.DataFrame,
    mist_sites: pd.DataFrame,
):
    """The pair of samples across midnight (23:50 -> 00:00) counts on the later day, so each
    site-day is computed with the same site's previous day as context: a day's KPIs then equal
    those over the whole history at once. The previous day is read through the storage API, not
    declared as an input, so the chunk runs keep both steps in one run (a day-offset mapping makes
    Dagster run every snapshot chunk first and the KPI chunks a backfill tick later)."""
    own = [split_key(k) for k in context.partition_keys]
    previous = {
        site_day_key((dt.date.fromisoformat(d) - dt.timedelta(days=1)).isoformat(), s): (d, s)
        for d, s in own
    }
    before = redis.asset_store().load("site_snapshots", list(previous), allow_missing=True)
    samples = pd.concat([before.to_pandas(), site_snapshots], ignore_index=True)
    interval = get_settings().interval_minutes
    config = kpi.KpiConfig.for_sites(mist_sites)
    days = sorted({d for d, _ in own})
    hourly, daily = kpi.circuit_kpis(samples, interval, config, days=days)
    if len(days) > 1:  # a range across days: a day's neighbours may be context only
        own_ids = [(d, site_id_of(s)) for d, s in own]
        hourly, daily = (_only(frame, own_ids) for frame in (hourly, daily))
    violations = kpi.bounds_violations(daily, interval)
    hourly_violations = kpi.bounds_violations(hourly, interval, bucket_minutes=60)
    missing_before = set(before.missing)
    for key, (day, site) in previous.items():
        context.add_asset_metadata(
            {"previous_day_available": key not in missing_before},
            asset_key="circuit_kpis",
            partition_key=dg.MultiPartitionKey({"day": day, "site": site}),
        )
    low = daily[daily["coverage_pct"] < COVERAGE_WARN_PCT]
    worst = daily.sort_values(
        ["availability_pct", "util_p95_pct"], ascending=[True, False], na_position="last"
    )
    yield dg.Output(
        daily,
        output_name="circuit_kpis",
        metadata={
            "circuits": len(daily),
            "site_days": len(context.partition_keys),
            "circuits_above_90": int((daily["minutes_above_90"] > 0).sum()),
            "min_availability_pct": float(daily["availability_pct"].min())
            if len(daily)
            else float("nan"),
            "worst_circuits": markdown_table(
                worst,
                [
                    "circuit_id",
                    "region",
                    "availability_pct",
                    "flaps",
                    "util_p95_pct",
                    "minutes_above_90",
                ],
            ),
        },
    )
    yield dg.Output(hourly, output_name="circuit_kpis_hourly", metadata={"rows": len(hourly)})
    yield dg.AssetCheckResult(
        check_name="kpi_bounds",
        asset_key="circuit_kpis",
        passed=not any(violations.values()) and not any(hourly_violations.values()),
        metadata={
            **{f"daily_rows_{rule}": n for rule, n in violations.items()},
            **{f"hourly_rows_{rule}": n for rule, n in hourly_violations.items()},
        },
    )
    yield dg.AssetCheckResult(
        check_name="coverage",
        asset_key="circuit_kpis",
        passed=low.empty,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "circuits_below": len(low),
            "threshold_pct": COVERAGE_WARN_PCT,
            "lowest": markdown_table(
                low.sort_values("coverage_pct"), ["circuit_id", "coverage_pct", "samples"], 5
            ),
        },
    )
