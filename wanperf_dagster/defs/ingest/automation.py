"""The sweep every poll interval, the inventory hourly, the `site` partitions kept in sync with
the inventory, and the refresh of sites the sweep left behind."""

import json

import dagster as dg

from wanperf_dagster.dagster_io.metadata import CADENCE_TAG, MIST_API_TAG, MIST_POOL
from wanperf_dagster.dagster_io.partitions import SITE_PARTITIONS
from wanperf_dagster.dagster_io.resources import (
    MistApiResource,
    RedisResource,
    WanperfSettings,
    known_orgs,
)
from wanperf_dagster.mist import refresh_stale_sites
from wanperf_dagster.settings import get_settings
from wanperf_dagster.storage import site_partition_keys

sweep_job = dg.define_asset_job(
    "sweep_job",
    selection=dg.AssetSelection.tag(CADENCE_TAG, "sweep"),
    tags={MIST_API_TAG: "sweep"},
    description="One sweep of the org and of its WAN insight feeds, then the current status.",
)
inventory_job = dg.define_asset_job(
    "inventory_job",
    selection=dg.AssetSelection.tag(CADENCE_TAG, "hourly"),
    tags={MIST_API_TAG: "inventory"},
    description="The org's sites, site groups and gateways.",
)


def cron_every(seconds: int) -> str:
    """The cron of a poll interval (whole minutes dividing an hour, as the settings enforce)."""
    minutes = seconds // 60
    if minutes <= 1:
        return "* * * * *"
    return "0 * * * *" if minutes >= 60 else f"*/{minutes} * * * *"


def sweep_schedule(poll_interval: int) -> dg.ScheduleDefinition:
    @dg.schedule(
        name="sweep_every_poll_interval",
        job=sweep_job,
        cron_schedule=cron_every(poll_interval),
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="The sweep every WANPERF_POLL_INTERVAL (default 10 minutes); a tick yields to "
        "a sweep still running (or the replay of `make run`), which fills the slot.",
    )
    def _sweep(context: dg.ScheduleEvaluationContext, redis: RedisResource, mist: MistApiResource):
        assets = redis.asset_store()
        busy = next(
            (b for org in known_orgs(redis, mist) if (b := assets.sweep_running(org))), None
        )
        if busy:
            return dg.SkipReason(f"{busy}: this tick yields to it")
        return dg.RunRequest()

    return _sweep


inventory_schedule = dg.ScheduleDefinition(
    name="inventory_hourly",
    job=inventory_job,
    cron_schedule="7 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="The inventory at :07 every hour: new sites become partitions.",
)


# site partitions ------------------------------------------------------------------------------
@dg.sensor(
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    job=inventory_job,
    description="Keeps the `site` partitions in sync with mist_sites: a new site becomes a partition "
    "named after it (`<name>_<site id>`, found by name in the partition picker); a renamed site "
    "keeps its partition; decommissioned sites keep their partitions and history.",
)
def site_partitions_sensor(context: dg.SensorEvaluationContext, redis: RedisResource):
    sites = redis.asset_store().latest("mist_sites")
    if sites is None:
        return dg.SensorResult(run_requests=[dg.RunRequest(run_key="first-inventory")])
    existing = context.instance.get_dynamic_partitions(SITE_PARTITIONS)
    names = sites.column("name").to_pylist() if "name" in sites.column_names else None
    ids = sites.column("site_id").to_pylist()
    current, new = site_partition_keys(ids, names or [None] * len(ids), existing)
    retired = sorted(set(existing) - set(current))
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


@dg.op(tags={MIST_API_TAG: "refresh"}, pool=MIST_POOL)
def refresh_stale_sites_op(
    context: dg.OpExecutionContext,
    config: RefreshConfig,
    mist: MistApiResource,
    redis: RedisResource,
) -> None:
    for client in mist.get_org_clients(budget=redis.get_client()):
        result = refresh_stale_sites(
            client,
            redis.get_client(),
            config.older_than_seconds,
            max_sites=config.max_sites,
        )
        context.log.info(
            f"org {client.org_id}: refreshed {len(result.sites)} sites ({result.samples} samples);"
            f" {result.skipped_for_budget} left for lack of budget"
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
    context: dg.SensorEvaluationContext,
    redis: RedisResource,
    mist: MistApiResource,
    settings: WanperfSettings,
):
    older = 3 * settings.poll_interval
    assets = redis.asset_store()
    now = mist.clock()
    stale, swept = [], 0
    for org in known_orgs(redis, mist):
        ages = assets.sites_by_age(org)
        if ages and now - ages[-1][1] <= older:  # an org with no recent sweep waits for the next
            swept += 1
            stale += assets.stale_sites(org, older, now=now)
    if not swept:
        # no recent sweep to lag behind: the sweep schedule catches every site up at once
        return dg.SkipReason("no recent sweep; stale sites are left to the next sweep")
    if not stale:
        return dg.SkipReason("no stale site")
    bucket = int(now // older)
    return dg.RunRequest(
        run_key=f"refresh-{bucket}",
        run_config={
            "ops": {
                "refresh_stale_sites_op": {"config": {"older_than_seconds": older, "max_sites": 50}}
            }
        },
        tags={"stale_sites": str(len(stale))},
    )


@dg.definitions
def defs() -> dg.Definitions:
    """The schedule's cron comes from the settings read when the code location loads."""
    return dg.Definitions(
        jobs=[sweep_job, inventory_job, stale_site_refresh_job],
        schedules=[sweep_schedule(get_settings().poll_interval), inventory_schedule],
        sensors=[site_partitions_sensor, stale_site_refresh_sensor],
    )
