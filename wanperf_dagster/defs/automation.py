"""Schedules, sensors and jobs: the sweep every poll interval, the inventory hourly, site
partitions kept in sync, the stale-site refresh, and nightly / rolling chunked backfills.

Backfills are added by the schedules themselves (`instance.add_backfill`): a schedule that
*returns* a backfill request is ignored by Dagster 1.13 (see docs/operations.md). `AssetGraphSubset`
and `PartitionBackfill` are private APIs, pinned with the Dagster version and covered by a test.
"""

import datetime as dt
import json
import time

import dagster as dg
from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset
from dagster._core.execution.backfill import PartitionBackfill

from wanperf_dagster import store
from wanperf_dagster.mist import refresh_stale_sites

from .assets.common import poll_interval_seconds
from .assets.ingest import mist_sites, raw_port_stats, wan_status_now
from .partitions import SITE_PARTITIONS, day_partitions, site_day_key, site_day_partitions
from .resources import MistApiResource, RedisResource

MIST_API_TAG = "wanperf/mist-api"  # the run queue lets one run with this tag through at a time

sweep_job = dg.define_asset_job(
    "sweep_job",
    selection=[raw_port_stats, wan_status_now],
    tags={MIST_API_TAG: "sweep"},
    description="One sweep of the org, then the current status.",
)
inventory_job = dg.define_asset_job(
    "inventory_job", selection=[mist_sites], tags={MIST_API_TAG: "inventory"}
)


def _cron_every(seconds: int) -> str:
    minutes = seconds // 60
    return (
        "* * * * *" if minutes <= 1 else ("0 * * * *" if minutes >= 60 else f"*/{minutes} * * * *")
    )


sweep_schedule = dg.ScheduleDefinition(
    name="sweep_every_poll_interval",
    job=sweep_job,
    cron_schedule=_cron_every(poll_interval_seconds()),
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="The sweep every WANPERF_POLL_INTERVAL (default 10 minutes).",
)
inventory_schedule = dg.ScheduleDefinition(
    name="inventory_hourly",
    job=inventory_job,
    cron_schedule="7 * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)


# site partitions ------------------------------------------------------------------------------
def stored_sites(redis: RedisResource):
    """The latest `mist_sites` table, or None before its first materialization."""
    tables, missing = store.get_tables(redis.get_client(), ["mist_sites"], [None])
    return None if missing else tables[0].to_pandas()


def active_sites(redis: RedisResource, instance: dg.DagsterInstance) -> list[str]:
    """Sites in both the inventory and the partitions, in partition order (decommissioned ones
    keep their partitions and history but get no new runs)."""
    sites = stored_sites(redis)
    current = set(sites["site_id"]) if sites is not None else set()
    return [s for s in instance.get_dynamic_partitions(SITE_PARTITIONS) if s in current]


@dg.sensor(
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    job=inventory_job,
    description="Keeps the `site` partitions in sync with mist_sites: adds new sites; decommissioned "
    "sites keep their partitions and history and get no new runs.",
)
def site_partitions_sensor(context: dg.SensorEvaluationContext, redis: RedisResource):
    sites = stored_sites(redis)
    if sites is None:
        return dg.SensorResult(run_requests=[dg.RunRequest(run_key="first-inventory")])
    known = set(context.instance.get_dynamic_partitions(SITE_PARTITIONS))
    current = list(dict.fromkeys(sites["site_id"]))
    new = [s for s in current if s not in known]
    retired = sorted(known - set(current))
    requests = [dg.AddDynamicPartitionsRequest(SITE_PARTITIONS, new)] if new else []
    cursor = json.dumps({"retired": retired})
    if not new and cursor == context.cursor:
        return dg.SkipReason(f"{len(current)} sites, no change")
    context.log.info(f"adding {len(new)} site partitions; {len(retired)} decommissioned sites kept")
    return dg.SensorResult(dynamic_partitions_requests=requests, cursor=cursor)


# stale-site refresh -----------------------------------------------------------------------------
class RefreshConfig(dg.Config):
    older_than_seconds: int = 1800
    max_sites: int = 50


@dg.op(tags={MIST_API_TAG: "refresh"}, pool="mist_api")
def refresh_stale_sites_op(
    context: dg.OpExecutionContext,
    config: RefreshConfig,
    mist: MistApiResource,
    redis: RedisResource,
) -> None:
    result = refresh_stale_sites(
        mist.get_client(), redis.get_client(), config.older_than_seconds, max_sites=config.max_sites
    )
    context.log.info(
        f"refreshed {len(result.sites)} sites ({result.samples} samples); "
        f"{result.skipped_for_budget} left for lack of budget"
    )


@dg.job(
    tags={MIST_API_TAG: "refresh"},
    description="Re-fetch stale sites through the per-site endpoint.",
)
def stale_site_refresh_job():
    refresh_stale_sites_op()


@dg.sensor(
    job=stale_site_refresh_job,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Sites whose newest sample is older than three poll intervals are re-fetched, oldest first.",
)
def stale_site_refresh_sensor(
    context: dg.SensorEvaluationContext, redis: RedisResource, mist: MistApiResource
):
    older = 3 * poll_interval_seconds()
    client = mist.get_client()
    r = redis.get_client()
    org = client.resolve_org_id()
    now = client.clock()
    ages = store.sites_by_age(r, org)
    if not ages or now - ages[-1][1] > older:
        # no recent sweep to lag behind: the sweep schedule catches every site up at once
        return dg.SkipReason("no recent sweep; stale sites are left to the next sweep")
    stale = store.stale_sites(r, org, older, now=now)
    if not stale:
        return dg.SkipReason("no stale site")
    bucket = int(client.clock() // older)
    return dg.RunRequest(
        run_key=f"refresh-{bucket}",
        run_config={
            "ops": {
                "refresh_stale_sites_op": {"config": {"older_than_seconds": older, "max_sites": 50}}
            }
        },
        tags={"stale_sites": str(len(stale))},
    )


# chunked backfills ------------------------------------------------------------------------------
SITE_DAY_ASSETS = ["site_snapshots", "circuit_kpis", "circuit_kpis_hourly"]
DAY_ASSETS = ["region_kpis", "org_kpis", "top_offenders", "congestion_trends"]


def site_day_subset(days: list[str], sites: list[str]) -> AssetGraphSubset:
    """Every site-day of the given days for the per-site assets, and those days for the rollups."""
    sd = site_day_partitions.empty_subset().with_partition_keys(
        [site_day_key(d, s) for d in days for s in sites]
    )
    dd = day_partitions.empty_subset().with_partition_keys(days)
    return AssetGraphSubset(
        partitions_subsets_by_asset_key={
            **{dg.AssetKey(a): sd for a in SITE_DAY_ASSETS},
            **{dg.AssetKey(a): dd for a in DAY_ASSETS},
        }
    )


def add_backfill(
    instance: dg.DagsterInstance, backfill_id: str, days: list[str], sites: list[str], title: str
) -> str | None:
    """Add a chunked backfill (runs of one day x up to WANPERF_BACKFILL_CHUNK sites each);
    idempotent by id, so a retried tick adds nothing."""
    if instance.get_backfill(backfill_id) is not None:
        return None
    backfill = PartitionBackfill.from_asset_graph_subset(
        backfill_id=backfill_id,
        backfill_timestamp=time.time(),
        tags={"wanperf/backfill": title},
        dynamic_partitions_store=instance,
        asset_graph_subset=site_day_subset(days, sites),
        title=title,
        description=f"{len(days)} day(s) x {len(sites)} sites",
        run_config=None,
    )
    instance.add_backfill(backfill)
    return backfill_id


def _backfill_schedule(name: str, cron: str, lookback_days: int, description: str):
    @dg.schedule(
        name=name,
        cron_schedule=cron,
        execution_timezone="UTC",
        target=dg.AssetSelection.assets(
            *SITE_DAY_ASSETS
        ),  # never launched: the tick adds a backfill
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=description,
    )
    def _schedule(context: dg.ScheduleEvaluationContext, redis: RedisResource):
        tick = context.scheduled_execution_time
        today = tick.astimezone(dt.UTC).date()
        days = [(today - dt.timedelta(days=k)).isoformat() for k in range(lookback_days, 0, -1)]
        days = [d for d in days if d >= day_partitions.start.date().isoformat()]
        sites = active_sites(redis, context.instance)
        if not days or not sites:
            return dg.SkipReason("no active sites or no days in range yet")
        backfill_id = f"{name}-{tick.strftime('%Y%m%dT%H%M')}"
        added = add_backfill(context.instance, backfill_id, days, sites, name)
        what = f"{len(days)} day(s) x {len(sites)} sites"
        return dg.SkipReason(
            f"added backfill {backfill_id}: {what}" if added else f"backfill {backfill_id} exists"
        )

    return _schedule


nightly_backfill = _backfill_schedule(
    "nightly_kpi_backfill",
    "20 0 * * *",
    1,
    "Every night: yesterday's site_snapshots and circuit_kpis for all active sites, as a chunked "
    "backfill, then the day's rollups.",
)
rolling_rebackfill = _backfill_schedule(
    "rolling_3_day_rebackfill",
    "40 3 * * *",
    3,
    "Every morning: the last 3 days again, picking up late samples.",
)
