"""The Dagster instance's `dagster.yaml`, from the project's `deploy/dagster.yaml` and the
settings: the embedded SQLite instance by default (with the batched event log), the Postgres
instance when `WANPERF_DAGSTER_PG_URL` is set (its URL read by Dagster from that variable, so
the password is never written into the file)."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from wanperf_dagster.settings import Settings

PROJECT_DIR = Path(__file__).resolve().parents[2]
DEPLOY_YAML = PROJECT_DIR / "deploy" / "dagster.yaml"
EVENT_BATCH_SIZE = 1000


def instance_config(settings: Settings, cores: int | None = None) -> dict:
    """The instance config for these settings, the run queue sized to the machine's cores (a
    chunk run is CPU-bound on one core)."""
    config = yaml.safe_load(DEPLOY_YAML.read_text())
    config["concurrency"]["runs"]["max_concurrent_runs"] = cores or os.cpu_count() or 2
    if settings.dagster_pg_url:
        config.pop("event_log_storage", None)
        config.update(postgres_storages({"env": "WANPERF_DAGSTER_PG_URL"}))
    return config


def postgres_storages(postgres_url) -> dict:
    """The instance's storages on Postgres: dagster-postgres's run and schedule storages, and
    its event log with Dagster's event batching on (`postgres_event_log`). `postgres_url` is
    a URL or `{"env": VARIABLE}` (the deployment's way: the password stays in the
    environment)."""
    url = {"postgres_url": postgres_url}
    return {
        "run_storage": {
            "module": "dagster_postgres.run_storage",
            "class": "PostgresRunStorage",
            "config": url,
        },
        "event_log_storage": {
            "module": "wanperf_dagster.instance.postgres_event_log",
            "class": "BatchedPostgresEventLogStorage",
            "config": url,
        },
        "schedule_storage": {
            "module": "dagster_postgres.schedule_storage",
            "class": "PostgresScheduleStorage",
            "config": url,
        },
    }


def write_instance_config(home: Path, settings: Settings, cores: int | None = None) -> Path:
    """DAGSTER_HOME with the instance's dagster.yaml (created when missing)."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / "dagster.yaml"
    text = (
        "# written by `wanperf` from deploy/dagster.yaml and the settings; edit those instead\n"
        + yaml.safe_dump(instance_config(settings, cores), sort_keys=False)
    )
    path.write_text(text)
    return path
