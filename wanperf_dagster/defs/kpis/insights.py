"""The WAN insight feeds per site-day: port events, the site's WAN SLE, its VPN paths' quality.

Chunked like the snapshots: one run covers up to `WANPERF_BACKFILL_CHUNK` site-days of a day, and
`circuit_kpis` takes `port_events` as an input, so its exact down time comes in the same run.
"""

import dagster as dg
import pandas as pd

from wanperf_dagster import kpi
from wanperf_dagster.dagster_io.metadata import add_partition_metadata, dataset_column_schema
from wanperf_dagster.dagster_io.partitions import (
    site_day_backfill,
    site_day_partition,
    site_day_partitions,
    split_key,
)
from wanperf_dagster.dagster_io.resources import RedisResource, WanperfSettings
from wanperf_dagster.storage import site_id_of

from .assets import CHUNKED_SITE_DAY, site_day_out

EVENTS_SCHEMA = dataset_column_schema("port_events")
SLE_SCHEMA = dataset_column_schema("site_sle")
SLE_HOURLY_SCHEMA = dataset_column_schema("site_sle_hourly")
PATH_SCHEMA = dataset_column_schema("vpn_path_kpis")

per_site_day = dict(**CHUNKED_SITE_DAY, deps=["raw_wan_insights"])


def _read(context, redis: RedisResource, feed: str) -> tuple[list, pd.DataFrame]:
    pairs = [split_key(k) for k in context.partition_keys]
    frame = redis.asset_store().read_feed(feed, [(d, site_id_of(s)) for d, s in pairs])
    if frame.attrs.get("invalid_values"):
        context.log.warning(
            f"{frame.attrs['invalid_values']} unreadable stored {feed} values dropped"
        )
    return pairs, frame


def _per_partition(context, settings, asset: str, pairs, frame: pd.DataFrame, figures) -> None:
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


@dg.asset(
    **per_site_day,
    metadata={"dagster/column_schema": EVENTS_SCHEMA},
    description="Each WAN port's down and up events of the site-day, to the second (Mist's "
    "GW_PORT_DOWN / GW_PORT_UP device events): where the event feed covers a day, circuit_kpis "
    "takes its down time and flaps from these instead of the samples.",
)
def port_events(
    context: dg.AssetExecutionContext, redis: RedisResource, settings: WanperfSettings
) -> pd.DataFrame:
    pairs, frame = _read(context, redis, "events")
    _per_partition(
        context,
        settings,
        "port_events",
        pairs,
        frame,
        lambda rows: {
            "dagster/row_count": len(rows),
            "downs": int((rows["event"] == "down").sum()),
            "circuits_with_events": int(rows["circuit_id"].nunique()),
        },
    )
    context.log.info(f"{len(pairs)} site-days: {len(frame):,} port events")
    return frame


@dg.multi_asset(
    partitions_def=site_day_partitions,
    backfill_policy=site_day_backfill,
    deps=["raw_wan_insights"],
    group_name="kpis",
    outs={
        "site_sle": site_day_out(
            "The site's WAN SLE of the day (gateway health, WAN link health, application health: "
            "means over the hours Mist reported, the worst hour) with the bands >= 0.95 healthy, "
            ">= 0.80 fair, >= 0.60 degraded, below critical.",
            SLE_SCHEMA,
        ),
        "site_sle_hourly": site_day_out(
            "The site's WAN SLE per hour, as Mist reported it, with the same bands.",
            SLE_HOURLY_SCHEMA,
        ),
    },
)
def site_sle(
    context: dg.AssetExecutionContext,
    redis: RedisResource,
    settings: WanperfSettings,
    mist_sites: pd.DataFrame,
):
    pairs, hourly = _read(context, redis, "sle")
    config = kpi.KpiConfig.for_sites(mist_sites)
    daily = kpi.site_sle_daily(hourly, config)
    hourly = kpi.site_sle_hourly(hourly, config)

    def figures(rows) -> dict:
        if rows.empty:
            return {"dagster/row_count": 0}
        row = rows.iloc[0]
        return {
            "dagster/row_count": len(rows),
            "wan_link_health": _score(row["wan_link_health"]),
            "band": str(row["wan_link_health_band"]),
            "application_health": _score(row["application_health"]),
            "hours_below_fair": int(row["hours_below_fair"]),
        }

    _per_partition(context, settings, "site_sle", pairs, daily, figures)
    _per_partition(
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


@dg.asset(
    **per_site_day,
    ins={"mist_sites": dg.AssetIn()},
    metadata={"dagster/column_schema": PATH_SCHEMA},
    description="Each VPN peer path of the site per day: availability, avg/p95/max latency, "
    "jitter and loss, MOS mean and minimum, minutes over the quality tiers. See docs/kpis.md.",
)
def vpn_path_kpis(
    context: dg.AssetExecutionContext,
    redis: RedisResource,
    settings: WanperfSettings,
    mist_sites: pd.DataFrame,
) -> pd.DataFrame:
    pairs, samples = _read(context, redis, "paths")
    out = kpi.vpn_path_kpis(samples, settings.interval_minutes, kpi.KpiConfig.for_sites(mist_sites))

    def figures(rows) -> dict:
        # a site has one or two paths: their worst figures and the worst path by name say it
        # (a table per site-day cost 3 ms to build and more to store, 500 times a chunk run)
        if rows.empty:
            return {"dagster/row_count": 0}
        mos = rows["mos_min"]
        worst = rows.loc[mos.idxmin()] if mos.notna().any() else rows.iloc[0]
        return {
            "dagster/row_count": len(rows),
            "path_availability_pct": _score(rows["availability_pct"].min(), 3),
            "worst_loss_p95_pct": _score(rows["loss_p95_pct"].max(), 3),
            "worst_mos": _score(rows["mos_min"].min(), 2),
            "worst_path": f"{worst['path_id']} (MOS {_score(worst['mos_min'], 2)},"
            f" p95 loss {_score(worst['loss_p95_pct'], 2)} %,"
            f" p95 latency {_score(worst['latency_p95_ms'], 1)} ms)",
        }

    _per_partition(context, settings, "vpn_path_kpis", pairs, out, figures)
    context.log.info(f"{len(pairs)} site-days: {len(out):,} path-days")
    return out


def _score(value, places: int = 4):
    return None if pd.isna(value) else round(float(value), places)
