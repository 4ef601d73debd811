"""The inventory and the sweep: the orgs' sites, and every gateway WAN port's stats into Redis."""

import contextlib
import time

import dagster as dg
import pandas as pd

from wanperf_dagster.dagster_io.metadata import CADENCE_TAG, MIST_POOL, OWNERS
from wanperf_dagster.dagster_io.resources import MistApiResource, RedisResource, WanperfSettings
from wanperf_dagster.feeds import InsightsConfig, InsightsResult, run_insights
from wanperf_dagster.mist import (
    MistAuthError,
    MistPermissionError,
    OrgSweep,
    SweepConfig,
    fetch_inventory,
    run_sweep,
    sweep_orgs,
)


@dg.asset(
    group_name="ingest",
    kinds={"pandas", "redis"},
    owners=OWNERS,
    pool=MIST_POOL,
    tags={CADENCE_TAG: "hourly"},
    description="Every analysed org's sites with their org, region (site group), time zone and "
    "country: the source of the `site` partitions (a sensor keeps them in sync).",
)
def mist_sites(
    context: dg.AssetExecutionContext, mist: MistApiResource, redis: RedisResource
) -> pd.DataFrame:
    frames = []
    retired = 0
    with _no_retry_on_auth_errors():
        for client in mist.get_org_clients(budget=redis.get_client()):
            sites = _org_sites(client)
            # a site gone from its org stops counting as stale (its history stays)
            retired += len(redis.asset_store().retire_sites_not_in(client.org_id, sites["site_id"]))
            frames.append(sites)
    sites = pd.concat(frames, ignore_index=True)
    by_region = sites.groupby("region").size().sort_values(ascending=False)
    by_org = sites.groupby("org_name").size().sort_values(ascending=False)
    context.add_output_metadata(
        {
            "sites": len(sites),
            "orgs": len(frames),
            "retired_from_cache_age": retired,
            "regions": dg.MetadataValue.json(by_region.to_dict()),
            "sites_by_org": dg.MetadataValue.json(by_org.to_dict()),
            "gateways": int(sites["gateways"].sum()),
            "wan_ports": int(sites["wan_ports"].sum()),
            "source": mist.source(),
        }
    )
    return sites


def _org_sites(client) -> pd.DataFrame:
    inventory = fetch_inventory(client)
    sites = inventory.sites.merge(
        inventory.gateways.groupby("site_id").agg(
            gateways=("mac", "count"), wan_ports=("wan_ports", "sum")
        ),
        on="site_id",
        how="left",
    ).fillna({"gateways": 0, "wan_ports": 0})
    sites[["gateways", "wan_ports"]] = sites[["gateways", "wan_ports"]].astype("int64")
    sites.insert(0, "org_id", client.org_id)
    sites.insert(1, "org_name", client.org_name or client.org_id)
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
    clients = mist.get_org_clients(budget=redis.get_client())
    t0 = time.monotonic()

    def progress(e) -> None:
        context.log.info(
            f"org {e.session.org_id} page {e.session.pages}: {e.session.records:,} records,"
            f" {e.session.samples:,} samples, {e.session.quarantined} quarantined,"
            f" budget left {e.budget_left:,}"
        )

    config = SweepConfig(interval_seconds=settings.poll_interval)
    with _no_retry_on_auth_errors():
        if len(clients) == 1:  # one org: its errors as they are (a retry may follow)
            swept = [
                OrgSweep(
                    clients[0].org_id,
                    session=run_sweep(clients[0], redis.get_client(), config, on_page=progress),
                )
            ]
        else:
            swept = sweep_orgs(clients, redis.get_client(), config, on_page=progress)
    done = [o.session for o in swept if o.session is not None and o.session.status == "finished"]
    failed = [o for o in swept if o.error]
    for org in failed:
        context.log.warning(f"org {org.org_id}: {org.error}")
    if not done:
        raise dg.Failure(
            description=f"no org's sweep finished: {failed[0].error if failed else 'nothing to sweep'}"
        )
    total = lambda name: sum(getattr(s, name) for s in done)  # noqa: E731
    first = done[0]
    metadata = {
        "sweep_id": first.id if len(done) == 1 else f"{len(done)} orgs",
        "sample_slot": dg.MetadataValue.timestamp(float(first.slot)),
        "orgs": len(swept),
        "orgs_not_finished": len(swept) - len(done),
        "pages": total("pages"),
        "records": total("records"),
        "samples": total("samples"),
        "quarantined": total("quarantined"),
        "lan_ports_skipped": total("lan_skipped"),
        "duplicates": total("duplicates"),
        "zero_speed": total("zero_speed"),
        "api_calls": total("calls"),
        "resumed": total("resumed"),
        "budget_left": min(c.budget_left() for c in clients),
        "duration_s": round(time.monotonic() - t0, 2),
        "source": mist.source(),
    }
    if len(swept) > 1:
        metadata["by_org"] = dg.MetadataValue.md(_by_org_table(swept))
    return dg.MaterializeResult(
        check_results=[sweep_completeness(redis, done, failed)], metadata=metadata
    )


def _by_org_table(swept) -> str:
    rows = ["| org | pages | samples | calls | status |", "|---|---:|---:|---:|---|"]
    for o in swept:
        s = o.session
        status = o.error.split(":")[0] if o.error else (s.status if s else "not started")
        rows.append(
            f"| {o.org_name or o.org_id} | {s.pages if s else 0} | {s.samples if s else 0:,}"
            f" | {s.calls if s else 0} | {status} |"
        )
    return "\n".join(rows)


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
    clients = mist.get_org_clients(budget=redis.get_client())
    t0 = time.monotonic()
    results = []
    with _no_retry_on_auth_errors():
        for client in clients:
            results.append(
                run_insights(
                    client,
                    redis.get_client(),
                    InsightsConfig(interval_seconds=settings.poll_interval),
                    feeds=feeds,
                    on_page=lambda feed, n: context.log.debug(f"{feed}: a page of {n} rows saved"),
                )
            )
    result = results[0] if len(results) == 1 else InsightsResult.total(results)
    if result.resumed:
        context.log.info(f"resumed: {', '.join(result.resumed)}")
    window = result.event_window
    return dg.MaterializeResult(
        check_results=[feeds_clean(result, feeds)],
        metadata={
            "feeds": ", ".join(feeds),
            "orgs": len(results),
            "sle_hours": result.sle_hours,
            "sle_rows": result.sle_rows,
            "vpn_paths": result.paths,
            "port_events": result.events,
            "other_events_skipped": result.other_events,
            **{f"quarantined_{feed}": n for feed, n in result.quarantined.items()},
            "events_from": dg.MetadataValue.timestamp(float(window[0])) if window else "none",
            "events_until": dg.MetadataValue.timestamp(float(window[1])) if window else "none",
            "api_calls": result.calls,
            "budget_left": min(c.budget_left() for c in clients),
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


def sweep_completeness(redis: RedisResource, done, failed=()) -> dg.AssetCheckResult:
    """Sites whose newest sample predates their org's sweep slot were not in it. Only sites still
    in the inventory count (a decommissioned site keeps its history, and stops being swept); an
    org whose sweep did not finish fails the check."""
    assets = redis.asset_store()
    missing = []
    for session in done:
        missing += assets.stale_sites(session.org_id, 0, now=session.slot)
    inventory = assets.site_ids()
    if inventory is not None:
        current = set(inventory)
        missing = [s for s in missing if s in current]
    quarantined = sum(s.quarantined for s in done)
    return dg.AssetCheckResult(
        check_name="sweep_complete",
        passed=not missing and quarantined == 0 and not failed,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "sites_missing": len(missing),
            "first_missing": ", ".join(missing[:10]),
            "records_quarantined": quarantined,
            "orgs_not_finished": ", ".join(o.org_name or o.org_id for o in failed) or "none",
            "sample_slot": dg.MetadataValue.timestamp(float(done[0].slot)),
        },
    )
