"""Rollups of the circuit KPIs: regions, the org and the worst circuits per day, congestion
trends over 7 days, and circuits per week and month."""

import datetime as dt
import functools

import dagster as dg
import pandas as pd

from wanperf_dagster import kpi
from wanperf_dagster.dagster_io.metadata import ALLOW_MISSING, OWNERS, markdown_table
from wanperf_dagster.dagster_io.partitions import (
    SITE_PARTITIONS,
    day_partitions,
    month_partitions,
    week_partitions,
)
from wanperf_dagster.dagster_io.resources import RedisResource

from ..kpis.automation import KPI_BACKFILLS

# every site partition of the input's period; site-days never materialized are left out
ALL_SITES_OF_DAY = dg.AssetIn(
    "circuit_kpis",
    partition_mapping=dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="day"),
    metadata={ALLOW_MISSING: True},
)
# weeks and months: Dagster's default mapping takes each period to its days x every site
ALL_SITE_DAYS_OF_PERIOD = dg.AssetIn("circuit_kpis", metadata={ALLOW_MISSING: True})

# a rollup of one day of circuit_kpis over every site partition of that day
day_rollup = functools.partial(
    dg.asset,
    partitions_def=day_partitions,
    ins={"circuit_kpis": ALL_SITES_OF_DAY},
    automation_condition=KPI_BACKFILLS,
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


@dg.asset(
    partitions_def=day_partitions,
    automation_condition=KPI_BACKFILLS,
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
    sites = context.instance.get_dynamic_partitions(SITE_PARTITIONS)
    loaded = redis.asset_store().load_site_days("circuit_kpis", days, sites)
    if loaded.missing:
        context.log.info(
            f"{len(loaded.missing)} of {len(days) * len(sites)} site-days have no circuit_kpis yet"
        )
    daily = loaded.to_pandas()
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


def _period_asset(name: str, partitions_def, freq: str, description: str):
    @dg.asset(
        name=name,
        partitions_def=partitions_def,
        ins={"circuit_kpis": ALL_SITE_DAYS_OF_PERIOD},
        group_name="rollups",
        kinds={"pandas", "redis"},
        owners=OWNERS,
        description=description,
    )
    def _asset(context: dg.AssetExecutionContext, circuit_kpis: pd.DataFrame) -> pd.DataFrame:
        out = kpi.period_circuit_kpis(circuit_kpis, freq) if len(circuit_kpis) else pd.DataFrame()
        days = int(circuit_kpis["day"].nunique()) if len(circuit_kpis) else 0
        context.add_output_metadata({"circuits": len(out), "days": days})
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
