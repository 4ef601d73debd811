"""The instance the tests record into: the project's own (`deploy/dagster.yaml`: SQLite, the
stock event log unless the settings turn on the batched one), or, with `WANPERF_TEST_DAGSTER_PG_URL` (CI sets it to the machine's
Postgres), a Postgres database made for that one instance and dropped when the test process
ends, so two test runs never share one."""

from __future__ import annotations

import atexit
import os
import uuid

PG_ENV = "WANPERF_TEST_DAGSTER_PG_URL"
_made: list[tuple[str, str]] = []  # (server URL, database) to drop at exit


def uses_postgres() -> bool:
    return bool(os.environ.get(PG_ENV))


def _server_url() -> str:
    return os.environ[PG_ENV].rstrip("/")


def make_postgres_database(server: str | None = None) -> str:
    """A fresh database on the test Postgres (or `server`); its URL. Dropped at the end of this
    process."""
    import psycopg2

    server = (server or _server_url()).rstrip("/")
    name = f"wanperf_dagster_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(f"{server}/postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    admin.close()
    if not _made:
        atexit.register(_drop_all)
    _made.append((server, name))
    return f"{server}/{name}"


def _drop_all() -> None:
    import psycopg2

    for server, name in _made:
        try:
            admin = psycopg2.connect(f"{server}/postgres")
        except psycopg2.Error:
            continue
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


def project_instance_overrides() -> dict:
    """The instance a test process records into. With the project's own `WANPERF_DAGSTER_PG_URL`
    set (a database the caller made), the URL is read from that variable by each process that
    opens the instance, as in a deployment: a Celery worker on another network reaches the same
    database at the address it knows."""
    from wanperf_dagster.instance.config import BATCHED_SQLITE, batched_event_log, postgres_storages
    from wanperf_dagster.settings import get_settings

    batched = batched_event_log(get_settings())
    if os.environ.get("WANPERF_DAGSTER_PG_URL"):
        return postgres_storages({"env": "WANPERF_DAGSTER_PG_URL"}, batched=batched)
    if uses_postgres():
        return postgres_storages(make_postgres_database(), batched=batched)
    return {"event_log_storage": BATCHED_SQLITE} if batched else {}
