"""The simulator scenarios' loop: at each instant the world's clock is set, the org swept over
real HTTP (and the insight feeds asked for ingested), then evaluated as `wan_alerts` runs it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from wanperf_dagster import alerts
from wanperf_dagster.feeds import InsightsConfig, run_insights
from wanperf_dagster.kpi import KpiConfig
from wanperf_dagster.mist import MistClient, SweepConfig, run_sweep
from wanperf_dagster.simulator import SimulatorServer
from wanperf_dagster.storage import AssetStore

HOOK = ("http://receiver.invalid/hook",)


def org_config(sim) -> KpiConfig:
    sites = sim.org.sites
    return KpiConfig(
        site_regions={s.id: s.region for s in sites}, site_names={s.id: s.name for s in sites}
    )


def swept_and_evaluated(
    sim, redis_client, token: str, instants: Iterable[int], sender, feeds=(), **options
) -> Iterator[tuple[int, list, alerts.DispatchReport]]:
    """(now, the incidents shown, the dispatch report) at each instant."""
    storage = AssetStore(redis_client)
    org, config = sim.org, org_config(sim)
    ids = [s.id for s in org.sites]
    insights = InsightsConfig(sle_backfill_hours=1, events_lookback_seconds=3600)
    with SimulatorServer(sim) as server:
        client = MistClient([token], server.url, org.id, clock=sim.clock.now)
        for now in instants:
            sim.clock.set(now)
            run_sweep(client, redis_client, SweepConfig())
            if feeds:
                run_insights(client, redis_client, insights, feeds=feeds)
            shown, report = alerts.evaluate(
                storage,
                org.id,
                ids,
                now,
                10,
                alerts.AlertRules(),
                config,
                alerts.destinations(HOOK, ()),
                sender=sender,
                **options,
            )
            yield now, shown, report
