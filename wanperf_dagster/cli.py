"""The `wanperf` command."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from wanperf_dagster import store

PROJECT_DIR = Path(__file__).resolve().parent.parent


def _dagster_home(data_dir: Path) -> Path:
    """DAGSTER_HOME under the data dir, holding a copy of the project's dagster.yaml."""
    home = data_dir / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    source = PROJECT_DIR / "deploy" / "dagster.yaml"
    if source.exists():
        shutil.copyfile(source, home / "dagster.yaml")
    return home


def cmd_redis(args: argparse.Namespace) -> int:
    server = store.EmbeddedRedis(store.data_dir_from_env())
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


def cmd_dev(args: argparse.Namespace) -> int:
    data_dir = store.data_dir_from_env()
    env = dict(os.environ)
    started: store.EmbeddedRedis | None = None
    if env.get("WANPERF_REDIS_URL"):
        print(f"Redis: {store.redact_url(env['WANPERF_REDIS_URL'])} (WANPERF_REDIS_URL)")
    else:
        server = store.EmbeddedRedis(data_dir)
        if not server.is_running():
            started = server
        server.ensure_running()
        print(f"Redis: embedded Valkey on 127.0.0.1:{server.port}, data in {server.dir}")
    env["WANPERF_DATA_DIR"] = str(data_dir)
    env["DAGSTER_HOME"] = str(_dagster_home(data_dir))
    cmd = [
        str(Path(sys.executable).parent / "dagster"),
        "dev",
        "-w",
        str(PROJECT_DIR / "workspace.yaml"),
        "-h",
        args.host,
        "-p",
        str(args.port),
    ]
    print(
        f"Dagster UI: http://{args.host}:{args.port}  (Ctrl-C stops it; data stays in {data_dir})"
    )
    proc = subprocess.Popen(cmd, cwd=PROJECT_DIR, env=env)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        return 130
    finally:
        if started is not None:  # stop what this command started; the data stays
            started.stop()
            print(f"stopped the embedded Redis; data kept in {started.dir}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wanperf",
        description="WAN performance analytics for Juniper Mist organisations (Dagster project).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    dev = sub.add_parser(
        "dev",
        help="start the embedded Redis and the Dagster UI (what `make run` does)",
        description="Start the embedded Redis (unless WANPERF_REDIS_URL is set) and `dagster dev`.",
    )
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=3000)
    dev.set_defaults(func=cmd_dev)

    red = sub.add_parser(
        "redis",
        help="start, stop or inspect the embedded Redis",
        description="Manage the embedded Valkey server under WANPERF_DATA_DIR (default .wanperf/).",
        epilog="example: wanperf redis status",
    )
    red.add_argument("action", choices=["start", "stop", "status"])
    red.set_defaults(func=cmd_redis)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except store.EmbeddedRedisError as exc:
        print(f"wanperf: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
