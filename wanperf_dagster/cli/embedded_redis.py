"""`wanperf redis`: the embedded Valkey server."""

from __future__ import annotations

import argparse

from wanperf_dagster import store
from wanperf_dagster.settings import get_settings

from .common import RAW


def add_parser(sub) -> None:
    red = sub.add_parser(
        "redis",
        help="start, stop or inspect the embedded Redis",
        description="Manage the embedded Valkey server under WANPERF_DATA_DIR (default .wanperf/):"
        " start it, stop it (only a valkey-server is ever signalled), or say whether it runs.",
        epilog="examples:\n  wanperf redis status\n  wanperf redis stop",
        formatter_class=RAW,
    )
    red.add_argument("action", choices=["start", "stop", "status"])
    red.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    server = store.EmbeddedRedis(get_settings().data_dir)
    if args.action == "start":
        server.ensure_running()
        print(
            f"embedded Redis running on 127.0.0.1:{server.port} (pid {server.pid}, data in {server.dir})"
        )
    elif args.action == "stop":
        print("stopped" if server.stop() else "not running")
    else:
        if server.is_running():
            print(f"running on 127.0.0.1:{server.port} (pid {server.pid}, data in {server.dir})")
        else:
            print("not running")
            return 1
    return 0
