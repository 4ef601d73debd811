"""From swept samples to KPIs: per site-day snapshots and circuit KPIs, then rollups.

Per site-day assets run chunked: one run covers up to `WANPERF_BACKFILL_CHUNK` site-days of a day,
vectorised, and the IO manager writes every partition of the chunk in one pipeline.
"""

import datetime as dt
import functools

import dagster as dg
import pandas as pd
import pyarrow as pa

from wanperf_dagster import kpi, store
from wanperf_dagster.mist.records import RAW_FIELDS
from wanperf_dagster.store import samples as sample_store

from ..io_manager import ALLOW_MISSING, PARTITION_COLUMNS, TTL_SECONDS, frame_column_schema
from ..partitions import (
    SITE_PARTITIONS,
    day_partitions,
    month_partitions,
    site_day_backfill,
    site_day_partitions,
    split_key,
    week_partitions,
)
from ..resources import RedisResource
from .common import OWNERS, SNAPSHOT_TTL, interval_minutes, markdown_table
from .ingest import mist_sites, raw_port_stats

SITE_DAY_COLUMNS = {"day": "day", "site": "site_id"}
# declared schemas (the data contracts): shown in the UI without repeating them per partition
SNAPSHOT_SCHEMA = frame_column_schema(sample_store.samples_frame([], [], RAW_FIELDS))
DAILY_SCHEMA = frame_column_schema(kpi.empty_kpis("daily"))
HOURLY_SCHEMA = frame_column_schema(kpi.empty_kpis("hourly"))
ALL_SITES_OF_DAY = dg.AssetIn(
    partition_mapping=dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="day"),
    metadata={ALLOW_MISSING: True},
)
COVERAGE_WARN_PCT = 90.0


def _regions(sites: pd.DataFrame) -> dict[str, str]:
    if sites is None or sites.empty:
        return {}
    return dict(zip(sites["site_id"], sites["region"], strict=True))


@dg.asset(
    partitions_def=site_day_partitions,
    backfill_policy=site_day_backfill,
    deps=[raw_port_stats],
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
    frame = sample_store.read_site_days(redis.get_client(), pairs, RAW_FIELDS)
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
    config = kpi.KpiConfig(site_regions=_regions(mist_sites))
    hourly, daily = kpi.circuit_kpis(site_snapshots, interval_minutes(), config)
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


# a rollup of one day of circuit_kpis over every site partition of that day
day_rollup = functools.partial(
    dg.asset,
    partitions_def=day_partitions,
    ins={"circuit_kpis": ALL_SITES_OF_DAY},
    group_name="rollups",
    kinds={"pandas", "redis"},
    owners=OWNERS,
)


def _day_rollup_metadata(org: pd.DataFrame) -> dict:
    if org.empty:
        return {"circuits": 0}
    row = org.iloc[0]
    return {
        "org_availability_pct": float(row["availability_pct"])
        if pd.notna(row["availability_pct"])
        else float("nan"),
        "org_util_p95_pct": float(row["util_p95_pct"])
        if pd.notna(row["util_p95_pct"])
        else float("nan"),
        "circuits_above_90": int(row["circuits_above_90"]),
        "circuits_down": int(row["circuits_down"]),
        "circuits": int(row["circuits"]),
        "coverage_pct": float(row["coverage_pct"]),
    }


@day_rollup(
    description="Per region and day: availability from summed minutes, weighted utilisation and "
    "quality, circuits down / above 90 % / failed over.",
)
def region_kpis(context: dg.AssetExecutionContext, circuit_kpis: pd.DataFrame) -> pd.DataFrame:
    out = kpi.region_daily_kpis(circuit_kpis) if len(circuit_kpis) else pd.DataFrame()
    context.add_output_metadata(
        {
            "regions": len(out),
            "preview": markdown_table(
                out, ["region", "circuits", "availability_pct", "util_p95_pct", "circuits_above_90"]
            )
            if len(out)
            else "none",
        }
    )
    return out


@day_rollup(
    description="The whole org per day; its metadata (availability, p95 utilisation, circuits above "
    "90 %) is what the UI plots over time.",
)
def org_kpis(context: dg.AssetExecutionContext, circuit_kpis: pd.DataFrame) -> pd.DataFrame:
    out = kpi.org_daily_kpis(circuit_kpis) if len(circuit_kpis) else pd.DataFrame()
    context.add_output_metadata(_day_rollup_metadata(out))
    return out


TOP_KPIS = [
    "availability_pct",
    "util_p95_pct",
    "minutes_above_90",
    "flaps",
    "loss_p95_pct",
    "latency_p95_ms",
    "failover_minutes",
]


@day_rollup(
    description="The 10 worst circuits of the day for each headline KPI (lowest availability, "
    "highest p95 utilisation, most time above 90 %, flaps, loss, latency, failover).",
)
def top_offenders(context: dg.AssetExecutionContext, circuit_kpis: pd.DataFrame) -> pd.DataFrame:
    frames = []
    for name in TOP_KPIS:
        if name not in circuit_kpis.columns:
            continue
        ranked = kpi.top_offenders(circuit_kpis, name, 10)
        if ranked.empty:
            continue
        if name not in kpi.rollups.LOWER_IS_WORSE:
            ranked = ranked[ranked[name] > 0]
        frames.append(
            pd.DataFrame(
                {
                    "kpi": name,
                    "rank": ranked["rank"],
                    "circuit_id": ranked["circuit_id"].astype(str),
                    "site_id": ranked["site_id"].astype(str),
                    "region": ranked["region"].astype(str),
                    "value": ranked[name].astype(float),
                }
            )
        )
    out = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=["kpi", "rank", "circuit_id", "site_id", "region", "value"])
    )
    context.add_output_metadata(
        {
            "worst": markdown_table(
                out[out["rank"] <= 3], ["kpi", "rank", "circuit_id", "region", "value"], 21
            )
        }
    )
    return out


def _daily_kpis_of(context, redis: RedisResource, days: list[str]) -> pd.DataFrame:
    """Daily circuit rows of the given days for every site partition, in pipelined round trips."""
    sites = context.instance.get_dynamic_partitions(SITE_PARTITIONS)
    keys = [f"{d}|{s}" for d in days for s in sites]
    tables, missing = store.get_tables(redis.get_client(), ["circuit_kpis"], keys)
    if missing:
        context.log.info(f"{len(missing)} of {len(keys)} site-days have no circuit_kpis yet")
    tables = [t for t in tables if t.num_rows]
    if not tables:
        return pd.DataFrame()
    return pa.concat_tables(tables, promote_options="permissive").to_pandas()


def _days(start: dt.datetime, end: dt.datetime) -> list[str]:
    n = (end.date() - start.date()).days
    return [(start.date() + dt.timedelta(days=i)).isoformat() for i in range(n)]


def _period_asset(name: str, partitions_def, freq: str, description: str):
    @dg.asset(
        name=name,
        partitions_def=partitions_def,
        group_name="rollups",
        kinds={"pandas", "redis"},
        owners=OWNERS,
        description=description,
        # Dagster maps each period to its days x all sites; a mapping to all partitions would
        # enumerate the whole day x site history in every run (test_definitions.py)
        deps=["circuit_kpis"],
    )
    def _asset(context: dg.AssetExecutionContext, redis: RedisResource) -> pd.DataFrame:
        window = context.partition_time_window
        daily = _daily_kpis_of(context, redis, _days(window.start, window.end))
        out = kpi.period_circuit_kpis(daily, freq) if len(daily) else pd.DataFrame()
        context.add_output_metadata(
            {"circuits": len(out), "days": int(daily["day"].nunique()) if len(daily) else 0}
        )
        return out

    return _asset


weekly_circuit_kpis = _period_asset(
    "weekly_circuit_kpis",
    week_partitions,
    "W",
    "Per circuit and ISO week (Monday to Sunday) from the daily rows, weighted correctly.",
)
monthly_circuit_kpis = _period_asset(
    "monthly_circuit_kpis",
    month_partitions,
    "M",
    "Per circuit and calendar month from the daily rows, weighted correctly.",
)


@dg.asset(
    partitions_def=day_partitions,
    group_name="rollups",
    kinds={"pandas", "redis"},
    owners=OWNERS,
    deps=["circuit_kpis"],  # the day x all sites; the 7-day look-back is read, not declared
    description="Congested now and getting worse: the p95 utilisation trend of every circuit over "
    "the 7 days up to the partition's day, and circuits breaching 90 % on 3 of those days.",
)
def congestion_trends(context: dg.AssetExecutionContext, redis: RedisResource) -> pd.DataFrame:
    end = dt.date.fromisoformat(context.partition_key)
    days = [(end - dt.timedelta(days=i)).isoformat() for i in range(6, -1, -1)]
    daily = _daily_kpis_of(context, redis, days)
    if daily.empty:
        return pd.DataFrame()
    trends = kpi.circuit_trends(daily, "util_p95_pct", days=7, end_day=end)
    chronic = kpi.chronic_offenders(daily, "util_p95_pct", 90.0, k=3, n=7, end_day=end)
    out = trends.merge(
        chronic[["circuit_id", "days_breached"]], on="circuit_id", how="left"
    ).fillna({"days_breached": 0})
    out["days_breached"] = out["days_breached"].astype("int64")
    hot = out[out["congested_and_rising"]]
    context.add_output_metadata(
        {
            "congested_and_rising": len(hot),
            "chronic_above_90": len(chronic),
            "rising": markdown_table(
                hot, ["circuit_id", "region", "latest", "slope_per_day", "days_breached"]
            ),
        }
    )
    return out


__all__ = [
    "circuit_kpis",
    "congestion_trends",
    "mist_sites",
    "monthly_circuit_kpis",
    "org_kpis",
    "region_kpis",
    "site_snapshots",
    "top_offenders",
    "weekly_circuit_kpis",
]
