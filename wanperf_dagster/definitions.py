"""The code location: `workspace.yaml`, `dagster dev`, `dg` and the tests load `defs`.

Everything under `defs/` is found by `load_from_defs_folder`; the resources and the executor are
bound here, from the settings. Secrets go in as `EnvVar`s, so Dagster shows the variable's name,
never its value.
"""

import warnings
from pathlib import Path

import dagster as dg

from wanperf_dagster.dagster_io.io_manager import RedisIOManager
from wanperf_dagster.dagster_io.resources import MistApiResource, RedisResource, WanperfSettings
from wanperf_dagster.settings import Settings, get_settings


def build_resources(settings: Settings) -> dict:
    redis = RedisResource(
        url=dg.EnvVar("WANPERF_REDIS_URL") if settings.redis_url else None,
        data_dir=str(settings.data_dir),
        history_location=settings.history_location,
        history_endpoint=settings.history_endpoint,
        hot_days=settings.hot_days,
        rollup_ttl_days=settings.rollup_ttl_days,
    )
    return {
        "settings": WanperfSettings.from_settings(settings),
        "redis": redis,
        "io_manager": RedisIOManager(redis=redis),
        "mist": MistApiResource(
            api_token=None if settings.uses_simulator else dg.EnvVar("MIST_API_TOKEN"),
            org_id=",".join(settings.mist_org_ids) or None,
            msp_id=settings.mist_msp_id,
            host=settings.mist_host,
            simulator_sites=settings.sim_sites,
            simulator_seed=settings.sim_seed,
            simulator_msp=",".join(f"{seed}:{n}" for seed, n in settings.sim_msp) or None,
        ),
    }


# The definitions use Dagster APIs marked beta or superseded on purpose (backfill policies, the
# day-to-site-day partition mapping, the freshness-check sensor; see docs/architecture.md), and
# Dagster warns again when it binds resources to sensors; the warnings would repeat in every
# process that loads the code location (webserver, daemon, every run).
for _category in (dg.BetaWarning, dg.PreviewWarning, dg.SupersessionWarning):
    warnings.filterwarnings("ignore", category=_category)


def build_executor(settings: Settings):
    """In-process by default: chunk runs do their work vectorised in one process, and a step
    subprocess per asset would cost seconds each (measured ~2 s/step here); parallelism comes
    from concurrent runs. `WANPERF_EXECUTOR=celery` sends each step to a Celery worker
    (`wanperf worker`), the broker's URL read from WANPERF_CELERY_BROKER when a run starts."""
    if settings.executor != "celery":
        return dg.in_process_executor
    from dagster_celery import celery_executor

    config: dict = {
        "broker": {"env": "WANPERF_CELERY_BROKER"},
        # the queue is a name, not a secret: several deployments can share one broker
        "config_source": {"task_default_queue": settings.celery_queue},
    }
    if settings.celery_backend:
        config["backend"] = {"env": "WANPERF_CELERY_BACKEND"}
    return celery_executor.configured(config, name="celery_executor")


@dg.definitions
def defs() -> dg.Definitions:
    found = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
    return dg.Definitions(
        # source links in the UI (file and line of each asset's body)
        assets=dg.with_source_code_references(list(found.assets or [])),
        asset_checks=found.asset_checks,
        jobs=found.jobs,
        schedules=found.schedules,
        sensors=found.sensors,
        resources=build_resources(get_settings()),
        executor=build_executor(get_settings()),
    )
