"""The Dagster instance's `dagster.yaml`, from the project's `deploy/dagster.yaml` and the
settings: the embedded SQLite instance by default, the Postgres instance when
`WANPERF_DAGSTER_PG_URL` is set (its URL read by Dagster from that variable, so the password is
never written into the file). Dagster's stock event logs, unless `WANPERF_DAGSTER_PATCHES`
turns on `event_log` (the batched ones of `event_log.py` and `postgres_event_log.py`) and the
installed Dagster still has what they extend."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import yaml

from wanperf_dagster.settings import Settings, patch_unavailable

PROJECT_DIR = Path(__file__).resolve().parents[2]
DEPLOY_YAML = PROJECT_DIR / "deploy" / "dagster.yaml"
EVENT_BATCH_SIZE = 1000


# what the batched event logs extend and call, beyond the classes they import
_EVENT_LOG_NEEDS = (
    "_event_to_row",
    "run_connection",
    "index_transaction",
    "_store_asset_event",
    "index_connection",
    "_check_partitions_table",
    "get_dynamic_partitions",
)


def batched_event_log(settings: Settings) -> bool:
    """Whether the instance gets the batched event log: the `event_log` patch is on and this
    Dagster has what it extends (else the stock one, said once in the log)."""
    if not settings.patched("event_log"):
        return False
    postgres = bool(settings.dagster_pg_url)
    module = "postgres_event_log" if postgres else "event_log"
    try:
        patched = importlib.import_module(f"wanperf_dagster.instance.{module}")
    except ImportError as exc:
        patch_unavailable("event_log", str(exc))
        return False
    base = patched.STOCK_STORAGE
    missing = [name for name in _EVENT_LOG_NEEDS if not hasattr(base, name)]
    if missing:
        patch_unavailable("event_log", f"{base.__name__} has no {', '.join(missing)}")
        return False
    return True


def instance_config(settings: Settings, cores: int | None = None) -> dict:
    """The instance config for these settings, the run queue sized to the machine's cores (a
    chunk run is CPU-bound on one core)."""
    config = yaml.safe_load(DEPLOY_YAML.read_text())
    config["concurrency"]["runs"]["max_concurrent_runs"] = cores or os.cpu_count() or 2
    batched = batched_event_log(settings)
    if settings.dagster_pg_url:
        config.update(postgres_storages({"env": "WANPERF_DAGSTER_PG_URL"}, batched=batched))
    elif batched:
        config["event_log_storage"] = BATCHED_SQLITE
    return config


# the SQLite event log storing each batch of per-partition asset events in one transaction: a
# chunk run of 500 site-days records ~3,000 events (`event_log.py`)
BATCHED_SQLITE = {
    "module": "wanperf_dagster.instance.event_log",
    "class": "BatchedSqliteEventLogStorage",
    "config": {"batch_size": EVENT_BATCH_SIZE},
}


def postgres_storages(postgres_url, batched: bool = False) -> dict:
    """The instance's storages on Postgres: dagster-postgres's run, schedule and event log
    storages (with `batched`, the event log with Dagster's event batching on and planned events
    in one insert: `postgres_event_log`). `postgres_url` is a URL or `{"env": VARIABLE}` (the
    deployment's way: the password stays in the environment)."""
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
        }
        if batched
        else {
            "module": "dagster_postgres.event_log",
            "class": "PostgresEventLogStorage",
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
