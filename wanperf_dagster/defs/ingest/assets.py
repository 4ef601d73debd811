"""The inventory and the sweep: the org's sites, and every gateway WAN port's stats into Redis."""

import contextlib
import time

import dagster as dg
import pandas as pd

from wanperf_dagster.dagster_io.metadata import CADENCE_TAG, MIST_POOL, OWNERS
from wanperf_dagster.dagster_io.resources import MistApiResource, RedisResource, WanperfSettings
from wanperf_dagster.feeds import InsightsConfig, run_insights
from wanperf_dagster.mist import (
    MistAuthError,
    MistPermissionError,
    SweepConfig,
    fetch_inventory,
    run_sweep,
)


@dg.asset(
    group_name="ingest",
    kinds={"pandas", "redis"},
    owners=OWNERS,
    pool=MIST_POOL,
    tags={CADENCE_TAG: "hourly"},
    description="The org's sites with their region (site group), time zone and country: the source "
    "of the `site` partitions (a sensor keeps them in sync).",
)
def mist_sites(
    context: dg.AssetExecutionContext, mist: MistApiResource, redis: RedisResource
) -> pd.DataFrame:
    client = mist.get_client(budget=redis.get_client())
    with _no_retry_on_auth_errors():
        inventory = fetch_inventory(client)
    sites = inventory.sites.merge(
        inventory.gateways.groupby("site_id").agg(
            gateways=("mac", "count"), wan_ports=("wan_ports", "sum")
        ),
        on="site_id",
        how="left",
    ).fillna({"gateways": 0, "wan_ports": 0})
    sites[["gateways", "wan_ports"]] = sites[["gateways", "wan_ports"]].astype("int64")
    by_region = sites.groupby("region").size().sort_values(ascending=False)
    # a site gone from the org stops counting as stale (its history stays)
    retired = redis.asset_store().retire_sites_not_in(client.resolve_org_id(), sites["site_id"])
    context.add_output_metadata(
        {
            "sites": len(sites),
            "retired_from_cache_age": len(retired),
            "regions": dg.MetadataValue.json(by_region.to_dict()),
            "gateways": int(sites["gateways"].sum()),
            "wan_ports": int(sites["wan_ports"].sum()),
            "source": mist.source(),
        }
    )
    return sites


# what runs with every sweep: one Mist caller at a time; a run that finds another holding the
# org's lock (or a passing API failure) tries again
WITH_EACH_SWEEP = dict(
    group_name="ingest",
    kinds={"redis"},
    owners=OWNERS,
    pool=MIST_POOL,
    tags={CADENCE_TAG: "sweep"},
    retry_policy=dg.RetryPolicy(max_retries=2, delay=20, backoff=dg.Backoff.EXPONENTIAL),
)


@dg.asset(
    **WITH_EACH_SWEEP,
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
    context: dg.AssetExecutionContext,
    mist: MistApiResource,
    redis: RedisResource,
    settings: WanperfSettings,
) -> dg.MaterializeResult:
    client = mist.get_client(budget=redis.get_client())
    t0 = time.monotonic()

    def progress(e) -> None:
        context.log.info(
            f"page {e.session.pages}: {e.session.records:,} records, {e.session.samples:,} samples, "
            f"{e.session.quarantined} quarantined, budget left {e.budget_left:,}"
        )

    with _no_retry_on_auth_errors():
        session = run_sweep(
            client,
            redis.get_client(),
            SweepConfig(interval_seconds=settings.poll_interval),
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


@dg.asset(
    **WITH_EACH_SWEEP,
    check_specs=[
        dg.AssetCheckSpec(
            "feeds_clean",
            asset="raw_wan_insights",
            description="no record of any feed was quarantined (warn: each is kept aside in Redis "
            "with the reason, and counted per feed)",
        )
    ],
    description="The WAN insight feeds with each sweep: every site's WAN SLE per complete hour, "
    "every VPN peer path's latency, jitter, loss and MOS, and the gateways' port down/up events "
    "since the last cursor (WANPERF_INSIGHT_FEEDS). Saved page by page, resumable.",
)
def raw_wan_insights(
    context: dg.AssetExecutionContext,
    mist: MistApiResource,
    redis: RedisResource,
    settings: WanperfSettings,
) -> dg.MaterializeResult:
    feeds = tuple(settings.insight_feeds)
    if not feeds:
        return dg.MaterializeResult(
            metadata={"feeds": "none (WANPERF_INSIGHT_FEEDS=none)"},
            check_results=[feeds_clean(None, feeds)],
        )
    client = mist.get_client(budget=redis.get_client())
    t0 = time.monotonic()
    with _no_retry_on_auth_errors():
        result = run_insights(
            client,
            redis.get_client(),
            InsightsConfig(interval_seconds=settings.poll_interval),
            feeds=feeds,
            on_page=lambda feed, n: context.log.debug(f"{feed}: a page of {n} rows saved"),
        )
    if result.resumed:
        context.log.info(f"resumed: {', '.join(result.resumed)}")
    window = result.event_window
    return dg.MaterializeResult(
        check_results=[feeds_clean(result, feeds)],
        metadata={
            "feeds": ", ".join(feeds),
            "sle_hours": result.sle_hours,
            "sle_rows": result.sle_rows,
            "vpn_paths": result.paths,
            "port_events": result.events,
            "other_events_skipped": result.other_events,
            **{f"quarantined_{feed}": n for feed, n in result.quarantined.items()},
            "events_from": dg.MetadataValue.timestamp(float(window[0])) if window else "none",
            "events_until": dg.MetadataValue.timestamp(float(window[1])) if window else "none",
            "api_calls": result.calls,
            "budget_left": client.budget_left(),
            "duration_s": round(time.monotonic() - t0, 2),
            "source": mist.source(),
        },
    )


def feeds_clean(result, feeds: tuple[str, ...]) -> dg.AssetCheckResult:
    """Passes when no record of the feeds this run fetched was quarantined."""
    if result is None:
        return dg.AssetCheckResult(
            check_name="feeds_clean", passed=True, metadata={"feeds": "none"}
        )
    return dg.AssetCheckResult(
        check_name="feeds_clean",
        passed=sum(result.quarantined.values()) == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "feeds": ", ".join(feeds),
            **{f"quarantined_{feed}": n for feed, n in result.quarantined.items()},
        },
    )


@contextlib.contextmanager
def _no_retry_on_auth_errors():
    """A rejected token or a missing privilege does not pass by itself: fail the run at once
    with the client's message (which names the token's position, never its value)."""
    try:
        yield
    except (MistAuthError, MistPermissionError) as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None


def sweep_completeness(redis: RedisResource, session) -> dg.AssetCheckResult:
    """Sites whose newest sample predates the sweep's slot were not in it. Only sites still in the
    inventory count (a decommissioned site keeps its history, and stops being swept)."""
    assets = redis.asset_store()
    missing = assets.stale_sites(session.org_id, 0, now=session.slot)
    inventory = assets.site_ids()
    if inventory is not None:
        current = set(inventory)
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
