"""The VPN paths feed's site-day asset: each path's quality of the day."""

import dagster as dg
import pandas as pd

from wanperf_dagster import kpi
from wanperf_dagster.dagster_io.metadata import dataset_column_schema
from wanperf_dagster.dagster_io.partitions import Partitions
from wanperf_dagster.dagster_io.resources import RedisResource, WanperfSettings

from ..site_days import chunked, per_partition, read_feed, score
from .kpis import vpn_path_kpis as path_kpis


def vpn_path_kpis(
    context: dg.AssetExecutionContext,
    redis: RedisResource,
    settings: WanperfSettings,
    mist_sites: pd.DataFrame,
) -> pd.DataFrame:
    pairs, samples = read_feed(context, redis, "paths")
    out = path_kpis(samples, settings.interval_minutes, kpi.KpiConfig.for_sites(mist_sites))

    def figures(rows) -> dict:
        # a site has one or two paths: their worst figures and the worst path by name say it
        # (a table per site-day cost 3 ms to build and more to store, 500 times a chunk run)
        if rows.empty:
            return {"dagster/row_count": 0}
        mos = rows["mos_min"]
        worst = rows.loc[mos.idxmin()] if mos.notna().any() else rows.iloc[0]
        return {
            "dagster/row_count": len(rows),
            "path_availability_pct": score(rows["availability_pct"].min(), 3),
            "worst_loss_p95_pct": score(rows["loss_p95_pct"].max(), 3),
            "worst_mos": score(rows["mos_min"].min(), 2),
            "worst_path": f"{worst['path_id']} (MOS {score(worst['mos_min'], 2)},"
            f" p95 loss {score(worst['loss_p95_pct'], 2)} %,"
            f" p95 latency {score(worst['latency_p95_ms'], 1)} ms)",
        }

    per_partition(context, settings, "vpn_path_kpis", pairs, out, figures)
    context.log.info(f"{len(pairs)} site-days: {len(out):,} path-days")
    return out


def definitions(p: Partitions) -> dg.Definitions:
    return dg.Definitions(
        assets=[
            dg.asset(
                **chunked(p),
                deps=["raw_wan_insights"],
                ins={"mist_sites": dg.AssetIn()},
                metadata={"dagster/column_schema": dataset_column_schema("vpn_path_kpis")},
                description="Each VPN peer path of the site per day: availability, avg/p95/max "
                "latency, jitter and loss, MOS mean and minimum, minutes over the quality tiers. "
                "See docs/kpis.md.",
            )(vpn_path_kpis)
        ]
    )
