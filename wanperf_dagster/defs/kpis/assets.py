"""From swept samples to KPIs, per site-day: snapshots, then daily and hourly circuit KPIs.

Both run chunked: one run covers up to `WANPERF_BACKFILL_CHUNK` site-days of a day, vectorised, and
the IO manager writes every partition of the chunk in one pipeline.
"""

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


def site_regions(sites: pd.DataFrame) -> dict[str, str]:
    if sites is None or sites.empty:
        return {}
    return dict(zip(sites["site_id"], sites["region"], strict=True))


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
    frame = sample_store.read_site_days(redis.get_client(), pairs)
    dupes = int(frame.duplicated(["ts", "circuit_id"]).sum())
    yield dg.Output(
        frame,
        metadata={
            "site_days": len(pairs),
            "circuits": int(frame["circuit_id"].nunique()),
            "samples": len(frame),
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
            description="percentages within 0-100, minutes adding up to the day",
        ),
        dg.AssetCheckSpec(
            "coverage",
            asset="circuit_kpis",
            description=f"circuits observed under {COVERAGE_WARN_PCT:.0f} % of the day (warn)",
        ),
    ],
)
def circuit_kpis(
    context: dg.AssetExecutionContext, site_snapshots: pd.DataFrame, mist_sites: pd.DataFrame
):
    config = kpi.KpiConfig(site_regions=site_regions(mist_sites))
    hourly, daily = kpi.circuit_kpis(site_snapshots, get_settings().interval_minutes, config)
    pct = daily[["availability_pct", "coverage_pct", "util_max_pct"]]
    bounded = bool(((pct.isna()) | ((pct >= 0) & (pct <= 100))).all().all())
    minutes_ok = bool(
        (daily[["up_minutes", "down_minutes", "unknown_minutes"]].sum(axis=1) == 1440).all()
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
        passed=bounded and minutes_ok,
        metadata={"percentages_in_range": bounded, "minutes_add_up": minutes_ok},
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
