"""The SLE feed's site-day assets: the site's WAN SLE per day and per hour, with the bands."""

import dagster as dg
import pandas as pd

from wanperf_dagster import kpi
from wanperf_dagster.dagster_io.metadata import dataset_column_schema
from wanperf_dagster.dagster_io.partitions import Partitions
from wanperf_dagster.dagster_io.resources import RedisResource, WanperfSettings

from ..site_days import per_partition, read_feed, score, site_day_out
from .kpis import site_sle_daily, site_sle_hourly


def site_sle(
    context: dg.AssetExecutionContext,
    redis: RedisResource,
    settings: WanperfSettings,
    mist_sites: pd.DataFrame,
):
    pairs, hourly = read_feed(context, redis, "sle")
    config = kpi.KpiConfig.for_sites(mist_sites)
    daily = site_sle_daily(hourly, config)
    hourly = site_sle_hourly(hourly, config)

    def figures(rows) -> dict:
        if rows.empty:
            return {"dagster/row_count": 0}
        row = rows.iloc[0]
        return {
            "dagster/row_count": len(rows),
            "wan_link_health": score(row["wan_link_health"]),
            "band": str(row["wan_link_health_band"]),
            "application_health": score(row["application_health"]),
            "hours_below_fair": int(row["hours_below_fair"]),
        }

    per_partition(context, settings, "site_sle", pairs, daily, figures)
    per_partition(
        context,
        settings,
        "site_sle_hourly",
        pairs,
        hourly,
        lambda rows: {"dagster/row_count": len(rows)},
    )
    bands = daily["wan_link_health_band"].value_counts().to_dict() if len(daily) else {}
    context.log.info(f"{len(pairs)} site-days: WAN link health bands {bands}")
    yield dg.Output(daily, output_name="site_sle")
    yield dg.Output(hourly, output_name="site_sle_hourly")


def definitions(p: Partitions) -> dg.Definitions:
    return dg.Definitions(
        assets=[
            dg.multi_asset(
                partitions_def=p.site_day,
                backfill_policy=p.site_day_backfill,
                deps=["raw_wan_insights"],
                group_name="kpis",
                outs={
                    "site_sle": site_day_out(
                        "The site's WAN SLE of the day (gateway health, WAN link health, "
                        "application health: means over the hours Mist reported, the worst hour) "
                        "with the bands >= 0.95 healthy, >= 0.80 fair, >= 0.60 degraded, below "
                        "critical.",
                        dataset_column_schema("site_sle"),
                    ),
                    "site_sle_hourly": site_day_out(
                        "The site's WAN SLE per hour, as Mist reported it, with the same bands.",
                        dataset_column_schema("site_sle_hourly"),
                    ),
                },
            )(site_sle)
        ]
    )
