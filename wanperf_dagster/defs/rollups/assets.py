"""Rollups of the circuit KPIs: regions, the org and the worst circuits per day, congestion
trends over 7 days, and circuits per week and month."""

import datetime as dt

import dagster as dg
import pandas as pd

from wanperf_dagster import kpi
from wanperf_dagster.dagster_io.automation import PERIOD_ROLLUPS, day_rollups
from wanperf_dagster.dagster_io.metadata import (
    ALLOW_MISSING,
    MISSING_PARTITIONS,
    OWNERS,
    circuit_table,
)
from wanperf_dagster.dagster_io.partitions import SITE_PARTITIONS, Partitions, end_of_today
from wanperf_dagster.dagster_io.resources import RedisResource
from wanperf_dagster.settings import get_settings

from .baselines import circuit_baselines


# every site partition of the input's period; site-days never materialized are left out
def _all_sites_of_day(asset: str) -> dg.AssetIn:
    """An input of every site partition of the rollup's day (site-days never materialized are
    left out)."""
    return dg.AssetIn(
        asset,
        partition_mapping=dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="day"),
        metadata={ALLOW_MISSING: True},
    )


ALL_SITES_OF_DAY = _all_sites_of_day("circuit_kpis")
ROLLUP = {"group_name": "rollups", "kinds": {"pandas", "redis"}, "owners": OWNERS}


def _number(value, places: int = 3):
    return None if pd.isna(value) else round(float(value), places)


def _site_days(circuit_kpis: pd.DataFrame) -> dict:
    """How many of the day's site-days the rollup saw, and how many were never materialized."""
    missing = len(circuit_kpis.attrs.get(MISSING_PARTITIONS, []))
    seen = int(circuit_kpis["site_id"].nunique()) if len(circuit_kpis) else 0
    return {"sites": seen, "site_days_missing": missing}


def _with_orgs(redis: RedisResource, circuit_kpis: pd.DataFrame) -> pd.DataFrame:
    """The rows with their site's org, from the latest inventory (read, not an input: an hourly
    inventory must not make every day's rollups stale)."""
    sites = redis.asset_store().latest("mist_sites")
    return kpi.with_orgs(circuit_kpis, sites.to_pandas() if sites is not None else None)


def region_kpis(
    context: dg.AssetExecutionContext, redis: RedisResource, circuit_kpis: pd.DataFrame
) -> pd.DataFrame:
    daily = _with_orgs(redis, circuit_kpis) if len(circuit_kpis) else circuit_kpis
    out = kpi.region_daily_kpis(daily) if len(daily) else pd.DataFrame()
    by_region = kpi.region_daily_kpis(circuit_kpis) if len(circuit_kpis) else out
    metadata: dict = {"regions": len(by_region), **_site_days(circuit_kpis)}
    for row in by_region.itertuples(index=False):
        metadata[f"availability_pct_{row.region}"] = _number(row.availability_pct)
        metadata[f"circuits_above_90_{row.region}"] = int(row.circuits_above_90)
    if len(by_region):
        metadata["by_region"] = circuit_table(
            by_region.sort_values("availability_pct"),
            [
                "region",
                "circuits",
                "availability_pct",
                "util_p95_pct",
                "circuits_above_90",
                "circuits_down",
                "flaps",
            ],
            20,
        )
    context.add_output_metadata(metadata)
    return out


def org_kpis(
    context: dg.AssetExecutionContext, redis: RedisResource, circuit_kpis: pd.DataFrame
) -> pd.DataFrame:
    daily = _with_orgs(redis, circuit_kpis) if len(circuit_kpis) else circuit_kpis
    out = kpi.org_daily_kpis(daily) if len(daily) else pd.DataFrame()
    metadata: dict = _site_days(circuit_kpis)
    if not out.empty:
        widest = out[out["scope"] == "msp"] if (out["scope"] == "msp").any() else out
        row = widest.iloc[0]  # the MSP's row, or the one org's
        if len(out) > 1:
            metadata["orgs"] = int((out["scope"] == "org").sum())
            metadata["by_org"] = circuit_table(
                out.sort_values(["scope", "availability_pct"]),
                ["org_name", "circuits", "availability_pct", "util_p95_pct", "circuits_down"],
                50,
            )
        metadata.update(
            {
                "org_availability_pct": _number(row["availability_pct"]),
                "org_util_p95_pct": _number(row["util_p95_pct"], 2),
                "circuits": int(row["circuits"]),
                "circuits_above_90": int(row["circuits_above_90"]),  # congested: p95 >= 90 %
                "circuits_down": int(row["circuits_down"]),
                "flaps": int(row["flaps"]),
                "down_seconds": int(row["down_seconds"]),
                "on_backup_seconds": int(row["on_backup_seconds"]),
                "coverage_pct": _number(row["coverage_pct"], 2),
            }
        )
    context.add_output_metadata(metadata)
    return out


TOP_KPIS = [
    "availability_pct",
    "util_p95_pct",
    "minutes_above_90",
    "flaps",
    "loss_p95_pct",
    "latency_p95_ms",
    "failover_seconds",
]


def top_offenders(
    context: dg.AssetExecutionContext, redis: RedisResource, circuit_kpis: pd.DataFrame
) -> pd.DataFrame:
    daily = _with_orgs(redis, circuit_kpis) if len(circuit_kpis) else circuit_kpis
    out, ranked = kpi.org_offender_rows(daily, TOP_KPIS, 10)
    tables = {
        f"worst_by_{name}": circuit_table(
            rows, ["rank", "site_name", "region", "circuit_id", name, kpi.tie_breaker(name)], 10
        )
        for name, rows in ranked.items()
    }
    context.add_output_metadata({**tables, **_site_days(circuit_kpis)})
    return out


def site_wan_health(
    context: dg.AssetExecutionContext,
    circuit_kpis: pd.DataFrame,
    site_sle: pd.DataFrame,
    vpn_path_kpis: pd.DataFrame,
) -> pd.DataFrame:
    out = kpi.site_wan_health(circuit_kpis, site_sle, vpn_path_kpis)
    below = out[out["likely_cause"] != ""]
    causes = below["likely_cause"].value_counts().to_dict()
    context.add_output_metadata(
        {
            **_site_days(circuit_kpis),
            "dagster/row_count": len(out),
            "sites_below_healthy": len(below),
            **{f"sites_{c.replace(' ', '_')}": int(causes.get(c, 0)) for c in kpi.SITE_CAUSES},
            "worst_sites": circuit_table(
                below,
                [
                    "site_name",
                    "region",
                    "wan_link_health",
                    "wan_link_health_band",
                    "likely_cause",
                    "down_seconds",
                    "minutes_above_90",
                    "path_loss_p95_pct",
                    "path_mos_min",
                ],
                10,
            ),
        }
    )
    return out


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
            "rising": circuit_table(
                hot,
                ["site_name", "region", "circuit_id", "latest", "slope_per_day", "days_breached"],
            ),
        }
    )
    return out


SLICE_SITES = kpi.SITES_AT_ONCE  # the sites whose days a period rollup holds at once


def _period_asset(name: str, partitions_def, freq: str, description: str, start_date: str):
    history_start = dt.datetime.fromisoformat(start_date).replace(tzinfo=dt.UTC)

    @dg.asset(
        name=name,
        partitions_def=partitions_def,
        # lineage: Dagster maps each period to its days x every site (a mapping to every
        # partition would enumerate the whole history in every run: test_definitions.py). Not an
        # input: a week in progress, or one that began before the first day, maps to days that
        # are not partitions (yet), which an input refuses; the days that are, are read below.
        deps=["circuit_kpis"],
        automation_condition=PERIOD_ROLLUPS,
        group_name="rollups",
        kinds={"pandas", "redis"},
        owners=OWNERS,
        description=description,
    )
    def _asset(context: dg.AssetExecutionContext, redis: RedisResource) -> pd.DataFrame:
        window = context.partition_time_window
        first = max(window.start, history_start)
        last = min(window.end, end_of_today())
        days = [
            (first.date() + dt.timedelta(days=i)).isoformat()
            for i in range((last.date() - first.date()).days)
        ]
        sites = context.instance.get_dynamic_partitions(SITE_PARTITIONS)
        # the history tier holds every day (a month reaches past the hot window), a file a day
        storage = redis.asset_store()
        out, held, missing = kpi.sliced_period_kpis(
            lambda keys, columns=None: storage.load_days(
                "circuit_kpis", days, keys, columns, only_these_sites=True
            ),
            sites,
            freq,
            SLICE_SITES,
        )
        context.add_output_metadata(
            {"circuits": len(out), "days": len(held), "site_days_missing": missing}
        )
        return out

    return _asset


def circuit_trends_13m(context: dg.AssetExecutionContext, redis: RedisResource) -> pd.DataFrame:
    month = context.partition_key
    monthly, daily = redis.asset_store().thirteen_month_trends(month)
    end = min(kpi.forecast.month_end(month), dt.datetime.now(dt.UTC).date())
    out = monthly.to_pandas().merge(
        kpi.capacity_forecast(daily.to_pandas(), end), on="circuit_id", how="left"
    )
    out["forecast"] = out["forecast"].fillna("insufficient history")
    crossing = out[(out["forecast"] == "rising") & (out["days_to_threshold"] <= 90)]
    context.add_output_metadata(
        {
            "circuits": len(out),
            "crossing_80_within_90_days": len(crossing),
            "forecasts": dg.MetadataValue.json(out["forecast"].value_counts().to_dict()),
            "soonest": circuit_table(
                crossing.sort_values("days_to_threshold").assign(by_month=None),
                [
                    "site_name",
                    "region",
                    "circuit_id",
                    "level_pct",
                    "slope_per_day",
                    "days_to_threshold",
                    "days_to_threshold_latest",
                ],
            ),
        }
    )
    return out


def rollups(p: Partitions, start_date: str) -> list[dg.AssetsDefinition]:
    """The rollups on the code location's partitions."""
    day_rollup = dict(partitions_def=p.day, automation_condition=day_rollups(p.hot_days), **ROLLUP)
    of_day = dict(**day_rollup, ins={"circuit_kpis": ALL_SITES_OF_DAY})
    return [
        dg.asset(
            **of_day,
            description="Per region and day: availability from summed minutes, weighted "
            "utilisation and quality, circuits down / above 90 % / failed over. Its metadata "
            "plots each region's availability over the days.",
        )(region_kpis),
        dg.asset(
            **of_day,
            description="Each org per day, and with several orgs (an MSP) a row over all of "
            "them (`scope` msp); its metadata (availability, p95 utilisation, "
            "congested and down circuits, flaps, time on backup) is what the UI plots over time.",
        )(org_kpis),
        dg.asset(
            **of_day,
            description="The 10 worst circuits of the day for each headline KPI, per org and "
            "with several orgs across them all (`scope` msp) (lowest "
            "availability, highest p95 utilisation, most time above 90 %, flaps, loss, latency, "
            "failover), ties ordered by a second KPI; each a table in the metadata, with site "
            "names.",
        )(top_offenders),
        dg.asset(
            **day_rollup,
            ins={
                "circuit_kpis": ALL_SITES_OF_DAY,
                "site_sle": _all_sites_of_day("site_sle"),
                "vpn_path_kpis": _all_sites_of_day("vpn_path_kpis"),
            },
            description="Per site and day, what a NOC asks: the site's WAN SLE beside its "
            "circuits' KPIs and its VPN paths' quality, with the likeliest cause of a score below "
            "healthy (outage, congestion, path quality, gateway). Worst sites first.",
        )(site_wan_health),
        dg.asset(
            **day_rollup,
            deps=["circuit_kpis"],  # the day x all sites; the 7-day look-back is read, not declared
            description="Congested now and getting worse: the p95 utilisation trend of every "
            "circuit over the 7 days up to the partition's day, and circuits breaching 90 % on 3 "
            "of those days.",
        )(congestion_trends),
        _period_asset(
            "weekly_circuit_kpis",
            p.week,
            "W",
            "Per circuit and ISO week (Monday to Sunday) from the daily rows, weighted correctly.",
            start_date,
        ),
        _period_asset(
            "monthly_circuit_kpis",
            p.month,
            "M",
            "Per circuit and calendar month from the daily rows, weighted correctly.",
            start_date,
        ),
        dg.asset(
            partitions_def=p.day,
            automation_condition=day_rollups(p.hot_days),
            group_name="rollups",
            kinds={"pandas", "redis"},
            owners=OWNERS,
            deps=["circuit_kpis_hourly"],  # the weeks up to the day x all sites, read
            description="What is normal for each circuit at each hour of the week: the median "
            "and MAD of its hourly utilisation, latency and loss at that hour (and either side) "
            "over the last WANPERF_BASELINE_WEEKS weeks up to the partition's day, 'learning' "
            "where fewer than WANPERF_BASELINE_MIN_WEEKS weeks were seen. Kept by hour of the "
            "week in Redis for the `baseline` alert rule and the site page. See docs/noc.md.",
        )(circuit_baselines),
        dg.asset(
            partitions_def=p.month,
            deps=["circuit_kpis"],
            automation_condition=PERIOD_ROLLUPS,
            group_name="rollups",
            kinds={"duckdb", "redis"},
            owners=OWNERS,
            description="Thirteen months up to the partition's month, per circuit, from the "
            "history tier (DuckDB over Parquet): p95 utilisation (the 95th percentile of the "
            "daily p95s) and availability by month, and the capacity forecast: the trend of the "
            "daily p95 (Theil-Sen over weekly medians, with its 90 % band) and the days until it "
            "crosses 80 %, or 'insufficient history' under four weeks. See docs/kpis.md.",
        )(circuit_trends_13m),
    ]


@dg.definitions
def defs() -> dg.Definitions:
    settings = get_settings()
    return dg.Definitions(assets=rollups(Partitions.of(settings), settings.start_date))
