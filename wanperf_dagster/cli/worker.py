"""`wanperf worker`: a Celery worker for the steps of runs."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from wanperf_dagster.settings import child_environment, get_settings, redact_url

from .common import RAW, positive_count, use_project_dagster_home

CELERY_CONFIG_MODULE = """# written by `wanperf worker`: the broker is read from the settings (the environment) when
# the worker starts, never written here
from wanperf_dagster.settings import get_settings

_settings = get_settings()
broker_url = _settings.celery_broker
result_backend = _settings.celery_backend or (
    broker_url if broker_url.startswith(("redis://", "rediss://")) else "rpc://"
)
worker_prefetch_multiplier = 1
task_acks_late = True  # a task whose worker died is handed to another worker
task_reject_on_worker_lost = True
# a step process that a step left above WANPERF_CELERY_WORKER_MAX_MIB is replaced before the next
# (what Python freed is seldom returned: at 20,000 sites two workers grew to 1.3 GiB each)
worker_max_memory_per_child = _settings.celery_worker_max_mib * 1024 or None
"""


def add_parser(sub) -> None:
    worker = sub.add_parser(
        "worker",
        help="a Celery worker that runs the steps of runs (WANPERF_EXECUTOR=celery)",
        description="Start a Celery worker for this code location: it takes steps from the"
        " broker (WANPERF_CELERY_BROKER) and runs them against the Dagster instance of"
        " DAGSTER_HOME (the Postgres instance, WANPERF_DAGSTER_PG_URL, when several machines"
        " share it) and the same Redis. Run one per core or machine; Ctrl-C or SIGTERM stops it"
        " after its current step.",
        epilog="examples:\n"
        "  WANPERF_CELERY_BROKER=amqp://guest:guest@127.0.0.1:5672// wanperf worker\n"
        "  wanperf worker --concurrency 2 --name wan-worker-1",
        formatter_class=RAW,
    )
    worker.add_argument("--concurrency", type=positive_count, default=1, help="steps at a time")
    worker.add_argument("--name", help="the worker's name (default wanperf-<pid>@<host>)")
    worker.add_argument("--loglevel", default="INFO", help="Celery's log level (INFO, WARNING)")
    worker.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import socket
    import tempfile

    settings = get_settings()
    if not settings.celery_broker:
        raise SystemExit(
            "wanperf: a worker needs WANPERF_CELERY_BROKER (amqp://user@host:5672// or redis://...)"
        )
    home = use_project_dagster_home(settings)
    config_dir = Path(tempfile.mkdtemp(prefix="wanperf-celery-"))
    (config_dir / "dagster_celery_config.py").write_text(CELERY_CONFIG_MODULE)
    name = args.name or f"wanperf-{os.getpid()}@{socket.gethostname()}"
    cmd = [
        str(Path(sys.executable).parent / "celery"),
        "-A",
        "dagster_celery.app",
        "worker",
        "-Q",
        settings.celery_queue,
        "-n",
        name,
        "--concurrency",
        str(args.concurrency),
        "--prefetch-multiplier=1",
        "-l",
        args.loglevel,
    ]
    env = child_environment(settings, (str(config_dir),), DAGSTER_HOME=str(home))
    print(
        f"Celery worker {name}: {args.concurrency} step(s) at a time, broker"
        f" {redact_url(settings.celery_broker)} (WANPERF_CELERY_BROKER), queue"
        f" {settings.celery_queue}, instance {home}",
        flush=True,
    )
    os.execve(cmd[0], cmd, env)  # the worker replaces this process: signals reach it directly
