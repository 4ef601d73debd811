"""The `wanperf` command: a module per subcommand, each adding its parser (`add_parser`) and
doing its work (`run`); `main` parses, runs, and turns what a user can fix into one line."""

from __future__ import annotations

import argparse
import sys

from wanperf_dagster import store
from wanperf_dagster.settings import SettingsError, get_settings, redact_url

from . import (
    alerts,
    daemon,
    dashboard,
    dev,
    embedded_redis,
    export,
    query,
    seed,
    sim,
    sla,
    status,
    sweep,
    top,
    users,
    warehouse,
    worker,
)
from .common import parse_day, positive_count

# in the order `wanperf --help` lists them
COMMANDS = (
    dev,
    embedded_redis,
    sweep,
    status,
    sim,
    seed,
    export,
    top,
    sla,
    alerts,
    dashboard,
    users,
    daemon,
    worker,
    query,
    warehouse,
)

__all__ = ["COMMANDS", "build_parser", "main", "parse_day", "positive_count"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wanperf",
        description="WAN performance analytics for Juniper Mist organisations (Dagster project).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from wanperf_dagster.mist import (
        MistError,
        SweepLockedError,
        SweepLockLostError,
        SweepRunawayError,
    )

    try:
        return args.func(args)
    except (
        SettingsError,
        store.EmbeddedRedisError,
        MistError,
        SweepLockedError,
        SweepLockLostError,
        SweepRunawayError,
    ) as exc:
        print(f"wanperf: {exc}", file=sys.stderr)
        return 2
    except store.RedisError as exc:
        settings = get_settings()
        where = (
            f"{redact_url(settings.redis_url)} (WANPERF_REDIS_URL)"
            if settings.redis_url
            else f"the embedded Valkey in {settings.data_dir} (WANPERF_DATA_DIR)"
        )
        print(f"wanperf: cannot use Redis at {where}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "wanperf: interrupted; an interrupted sweep resumes on the next `wanperf sweep`",
            file=sys.stderr,
        )
        return 130
    except OSError as exc:  # a file or directory the settings name that cannot be used
        if exc.filename is None:
            raise
        print(f"wanperf: cannot use {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
        return 2
