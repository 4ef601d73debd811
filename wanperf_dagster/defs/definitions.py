"""Assembles the project's `Definitions`."""

from __future__ import annotations

import datetime as dt
import os

import dagster as dg

from . import automation
from .assets import ingest, kpis
from .assets.common import poll_interval_seconds
from .io_manager import RedisIOManager
from .resources import MistApiResource, RedisResource


def _env(name: str):
    """An EnvVar when the variable is set (Dagster then shows its name, never its value)."""
    return dg.EnvVar(name) if os.environ.get(name) else None


def build_resources() -> dict:
    # The URL may hold a password: pass it as an EnvVar so Dagster shows the variable's name,
    # never its value. Unset, the resource uses the embedded server.
    redis_resource = RedisResource(url=_env("WANPERF_REDIS_URL"), data_dir=_env("WANPERF_DATA_DIR"))
    mist = MistApiResource(
        api_token=_env("MIST_API_TOKEN"),
        org_id=_env("MIST_ORG_ID"),
        host=_env("MIST_HOST"),
        simulator_sites=int(os.environ.get("WANPERF_SIM_SITES") or 200),
        simulator_seed=int(os.environ.get("WANPERF_SIM_SEED") or 1),
    )
    return {
        "redis": redis_resource,
        "io_manager": RedisIOManager(redis=redis_resource),
        "mist": mist,
    }


ASSETS = [
    ingest.mist_sites,
    ingest.raw_port_stats,
    ingest.wan_status_now,
    kpis.site_snapshots,
    kpis.circuit_kpis,
    kpis.region_kpis,
    kpis.org_kpis,
    kpis.top_offenders,
    kpis.weekly_circuit_kpis,
    kpis.monthly_circuit_kpis,
    kpis.congestion_trends,
]

freshness_checks = dg.build_last_update_freshness_checks(
    assets=[ingest.raw_port_stats],
    lower_bound_delta=dt.timedelta(seconds=3 * poll_interval_seconds()),
)
freshness_sensor = dg.build_sensor_for_freshness_checks(
    freshness_checks=freshness_checks,
    default_status=dg.DefaultSensorStatus.RUNNING,
)


def build_definitions() -> dg.Definitions:
    return dg.Definitions(
        assets=dg.with_source_code_references(ASSETS),
        asset_checks=freshness_checks,
        jobs=[automation.sweep_job, automation.inventory_job, automation.stale_site_refresh_job],
        schedules=[
            automation.sweep_schedule,
            automation.inventory_schedule,
            automation.nightly_backfill,
            automation.rolling_rebackfill,
        ],
        sensors=[
            automation.site_partitions_sensor,
            automation.stale_site_refresh_sensor,
            freshness_sensor,
        ],
        resources=build_resources(),
        # chunk runs do their work vectorised in one process: a step subprocess per asset would
        # cost seconds each (measured ~2 s/step here); parallelism comes from concurrent runs
        executor=dg.in_process_executor,
    )
