"""Ingest: the only assets that talk to the Mist API (one at a time, through the `mist_api` pool)."""

import time

import dagster as dg
import pandas as pd

from wanperf_dagster import kpi
from wanperf_dagster.mist import SweepConfig, fetch_inventory, run_sweep
from wanperf_dagster.mist.records import RAW_FIELDS
from wanperf_dagster.store import get_tables, sites_by_age, stale_sites
from wanperf_dagster.store import samples as sample_store

from ..resources import MistApiResource, RedisResource
from .common import OWNERS, interval_minutes, markdown_table, poll_interval_seconds

MIST_POOL = "mist_api"


@dg.asset(
    group_name="ingest",
    kinds={"pandas", "redis"},
    owners=OWNERS,
    pool=MIST_POOL,
    description="The org's sites with their region (site group), time zone and country: the source "
    "of the `site` partitions (a sensor keeps them in sync).",
)
def mist_sites(context: dg.AssetExecutionContext, mist: MistApiResource) -> pd.DataFrame:
    inventory = fetch_inventory(mist.get_client())
    sites = inventory.sites.merge(
        inventory.gateways.groupby("site_id").agg(
            gateways=("mac", "count"), wan_ports=("wan_ports", "sum")
        ),
        on="site_id",
        how="left",
    ).fillna({"gateways": 0, "wan_ports": 0})
    sites[["gateways", "wan_ports"]] = sites[["gateways", "wan_ports"]].astype("int64")
    by_region = sites.groupby("region").size().sort_values(ascending=False)
    context.add_output_metadata(
        {
            "sites": len(sites),
            "regions": dg.MetadataValue.json(by_region.to_dict()),
            "gateways": int(sites["gateways"].sum()),
            "wan_ports": int(sites["wan_ports"].sum()),
            "source": mist.source(),
        }
    )
    return sites


@dg.asset(
    group_name="ingest",
    kinds={"redis"},
    owners=OWNERS,
    pool=MIST_POOL,
    # a sweep that finds another one holding the org's lock (or a passing API failure) tries again
    retry_policy=dg.RetryPolicy(max_retries=2, delay=20, backoff=dg.Backoff.EXPONENTIAL),
    check_specs=[
        dg.AssetCheckSpec(
            "sweep_complete",
            asset="raw_port_stats",
            description="every site swept before and still in the inventory has samples in this "
            "sweep's slot, and no record was quarantined (warn: the stale-site refresh follows up)",
        )
    ],
    description="The org-wide sweep of every gateway WAN port (paged, budgeted, resumable). Each page "
    "is saved to Redis as it arrives, keyed by (day, site, sample slot, circuit).",
)
def raw_port_stats(
    context: dg.AssetExecutionContext, mist: MistApiResource, redis: RedisResource
) -> dg.MaterializeResult:
    client = mist.get_client()
    t0 = time.monotonic()

    def progress(e) -> None:
        context.log.info(
            f"page {e.session.pages}: {e.session.records:,} records, {e.session.samples:,} samples, "
            f"{e.session.quarantined} quarantined, budget left {e.budget_left:,}"
        )

    session = run_sweep(
        client,
        redis.get_client(),
        SweepConfig(interval_seconds=poll_interval_seconds()),
        on_page=progress,
    )
    return dg.MaterializeResult(
        check_results=[sweep_completeness(redis, session)],
        metadata={
            "sweep_id": session.id,
            "sample_slot": dg.MetadataValue.timestamp(float(session.slot)),
            "pages": session.pages,
            "records": session.records,
            "samples": session.samples,
            "quarantined": session.quarantined,
            "lan_ports_skipped": session.lan_skipped,
            "duplicates": session.duplicates,
            "zero_speed": session.zero_speed,
            "api_calls": session.calls,
            "resumed": session.resumed,
            "budget_left": client.budget_left(),
            "duration_s": round(time.monotonic() - t0, 2),
            "source": mist.source(),
        },
    )


def sweep_completeness(redis: RedisResource, session) -> dg.AssetCheckResult:
    """Sites whose newest sample predates the sweep's slot were not in it. Only sites still in the
    inventory count (a decommissioned site keeps its history, and stops being swept)."""
    client = redis.get_client()
    missing = stale_sites(client, session.org_id, 0, now=session.slot)
    tables, absent = get_tables(client, ["mist_sites"], [None])
    if not absent:
        current = set(tables[0].column("site_id").to_pylist())
        missing = [s for s in missing if s in current]
    return dg.AssetCheckResult(
        check_name="sweep_complete",
        passed=not missing and session.quarantined == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "sites_missing": len(missing),
            "first_missing": ", ".join(missing[:10]),
            "records_quarantined": session.quarantined,
            "sample_slot": dg.MetadataValue.timestamp(float(session.slot)),
        },
    )


@dg.asset(
    group_name="status",
    kinds={"pandas", "redis"},
    owners=OWNERS,
    deps=[raw_port_stats],
    description="What is wrong now: per circuit its latest state and the last 3, 12 and 24 hours "
    "(availability, time above thresholds, flaps, failover). Refreshed after each sweep.",
)
def wan_status_now(
    context: dg.AssetExecutionContext,
    redis: RedisResource,
    mist: MistApiResource,
    mist_sites: pd.DataFrame,
) -> pd.DataFrame:
    r = redis.get_client()
    org = mist.get_client().resolve_org_id()
    sites = [s for s, _ in sites_by_age(r, org)]
    now = mist.get_client().clock()
    days = sorted({sample_store.day_of(now), sample_store.day_of(now - 86400)})
    samples = sample_store.read_site_days(r, [(d, s) for d in days for s in sites], RAW_FIELDS)
    regions = (
        dict(zip(mist_sites["site_id"], mist_sites["region"], strict=True))
        if len(mist_sites)
        else {}
    )
    config = kpi.KpiConfig(site_regions=regions)
    status = kpi.window_kpis(samples, interval_minutes(), config=config)
    if status.empty:
        context.add_output_metadata({"circuits": 0})
        return status
    latest = status[status["window_hours"] == 3]
    congested = latest["util_now_pct"] >= 90
    down = latest["up_now"].eq(False)
    worst = latest.assign(down_now=down).sort_values(
        ["down_now", "util_now_pct"], ascending=[False, False]
    )
    context.add_output_metadata(
        {
            "circuits": int(latest["circuit_id"].nunique()),
            "down_now": int(down.sum()),
            "congested_now": int(congested.sum()),
            "failed_over_3h": int((latest["failover_minutes"] > 0).sum()),
            "worst_now": markdown_table(
                worst,
                [
                    "circuit_id",
                    "region",
                    "up_now",
                    "util_now_pct",
                    "availability_pct",
                    "minutes_above_90",
                ],
            ),
        }
    )
    return status
