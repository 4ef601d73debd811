"""The devices feed's site-day asset: each gateway's day, connected, offline, unknown, with its
restarts; and a check that names the gateways whose status went unread."""

import datetime as dt
import time

import dagster as dg
import pandas as pd

from wanperf_dagster import kpi
from wanperf_dagster.dagster_io.metadata import circuit_table, dataset_column_schema
from wanperf_dagster.dagster_io.partitions import Partitions
from wanperf_dagster.dagster_io.resources import RedisResource, WanperfSettings
from wanperf_dagster.storage import site_id_of

from ..site_days import chunked, per_partition, read_feed, score
from .kpis import gateway_days

READ_WARN_PCT = 90.0  # a gateway whose status was read for less of its day so far is named


def gateway_status(
    context: dg.AssetExecutionContext,
    redis: RedisResource,
    settings: WanperfSettings,
    mist_sites: pd.DataFrame,
):
    pairs, samples = read_feed(context, redis, "devices")
    days = gateway_days(
        samples,
        settings.interval_minutes,
        kpi.KpiConfig.for_sites(mist_sites),
        now=time.time(),
        expected=expected_gateways(redis.asset_store(), pairs),
    )
    per_partition(
        context,
        settings,
        "gateway_status",
        pairs,
        days,
        lambda rows: {
            "dagster/row_count": len(rows),
            "gateways": len(rows),
            "disconnected_minutes": int(rows["disconnected_minutes"].sum()),
            "unknown_minutes": int(rows["unknown_minutes"].sum()),
            "reboots": int(rows["reboots"].sum()),
            "worst_availability_pct": score(rows["availability_pct"].min(), 3),
        },
    )
    observed = days["connected_minutes"] + days["disconnected_minutes"]
    read_pct = observed / (observed + days["unknown_minutes"]).where(lambda x: x > 0) * 100
    unread = days.assign(read_pct=read_pct.round(1))[read_pct.fillna(0) < READ_WARN_PCT]
    # gateways the inventory counts that no status nor register names: never read at all
    missing = _uncounted(mist_sites, days, pairs)
    context.log.info(
        f"{len(pairs)} site-days: {len(days):,} gateway-days,"
        f" {int((days['disconnected_minutes'] > 0).sum())} with offline time"
    )
    yield dg.Output(days)
    yield dg.AssetCheckResult(
        check_name="status_read",
        passed=unread.empty and missing == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "gateways_below": len(unread),
            "gateways_never_seen": missing,
            "threshold_pct": READ_WARN_PCT,
            "least_read": circuit_table(
                unread.sort_values("read_pct"), ["site_name", "mac", "read_pct", "samples"], 5
            ),
        },
    )


def expected_gateways(assets, pairs) -> pd.DataFrame:
    """The gateways each site-day must have a row for: those of the circuits the gateways'
    own listing registered for the site (`mac:port`), alive some time that day."""
    sites = sorted({site_id_of(s) for _, s in pairs})
    register = assets.circuits(sites)
    rows = []
    for day, site in pairs:
        start = dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC).timestamp()
        mine = register[
            (register["site_id"] == site_id_of(site))
            & (register["first_seen"] < start + 86400)
            & (register["last_seen"] >= start)
        ]
        day_of = dt.date.fromisoformat(day)
        rows += [
            (day_of, site_id_of(site), mac)
            for mac in sorted({c.split(":", 1)[0] for c in mine["circuit_id"]})
        ]
    return pd.DataFrame.from_records(rows, columns=["day", "site_id", "mac"])


def _uncounted(mist_sites: pd.DataFrame, days: pd.DataFrame, pairs) -> int:
    """Over the run's site-days, the gateways the inventory counts beyond the rows they have."""
    if mist_sites is None or "gateways" not in mist_sites:
        return 0
    counted = dict(zip(mist_sites["site_id"].astype(str), mist_sites["gateways"], strict=True))
    have = days.groupby([days["day"].astype(str), days["site_id"].astype(str)]).size()
    return int(
        sum(
            max(0, int(counted.get(site_id_of(s), 0)) - int(have.get((d, site_id_of(s)), 0)))
            for d, s in pairs
        )
    )


def definitions(p: Partitions) -> dg.Definitions:
    return dg.Definitions(
        assets=[
            dg.asset(
                **chunked(p),
                deps=["raw_wan_insights"],
                ins={"mist_sites": dg.AssetIn()},
                metadata={"dagster/column_schema": dataset_column_schema("gateway_status")},
                check_specs=[
                    dg.AssetCheckSpec(
                        "status_read",
                        asset="gateway_status",
                        description=f"every gateway's status read for at least {READ_WARN_PCT:.0f}"
                        " % of its day so far, and every gateway the inventory counts has a row"
                        " (warn: the time nobody read is unknown)",
                    )
                ],
                description="Each gateway per day from its status at each ingestion (the "
                "devices feed): minutes connected, disconnected (offline or rebooting) and "
                "unknown, its offline periods and the longest, its restarts.",
            )(gateway_status)
        ]
    )
