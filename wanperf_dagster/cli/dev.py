"""`wanperf dev`: what `make run` does."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from wanperf_dagster import store
from wanperf_dagster.settings import child_environment, get_settings, pin_start_date, redact_url

from . import seed, sweep
from .common import PROJECT_DIR, RAW, dagster_home


def add_parser(sub) -> None:
    dev = sub.add_parser(
        "dev",
        help="start the embedded Redis and the Dagster UI (what `make run` does)",
        description="Start the embedded Redis (unless WANPERF_REDIS_URL is set) and `dagster dev`"
        " (webserver and daemon). Without MIST_API_TOKEN, replay the simulated org's last days"
        " and materialize them; with it, sweep your org once. Ctrl-C stops everything it started;"
        " the data stays in WANPERF_DATA_DIR.",
        epilog="examples:\n  wanperf dev\n  wanperf dev --port 3001 --demo-days 1\n"
        "  MIST_API_TOKEN=... MIST_HOST=api.eu.mist.com wanperf dev",
        formatter_class=RAW,
    )
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=3000)
    dev.add_argument(
        "--demo-days",
        type=float,
        default=None,
        help="days of simulated history to replay first (no token only; default"
        " WANPERF_DEMO_DAYS, else 3)",
    )
    dev.set_defaults(func=run)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops everything too, like Ctrl-C
    signal.signal(signal.SIGINT, _interrupt)  # even where a shell started us with SIGINT ignored
    settings = get_settings()
    data_dir = settings.data_dir
    started: store.EmbeddedRedis | None = None
    if settings.redis_url:
        print(f"Redis: {redact_url(settings.redis_url)} (WANPERF_REDIS_URL)")
    else:
        server = store.EmbeddedRedis(data_dir)
        if not server.is_running():
            started = server
        server.ensure_running()
        print(f"Redis: embedded Valkey on 127.0.0.1:{server.port}, data in {server.dir}")
    pin_start_date(settings)  # the partitions start here from now on
    home = dagster_home(data_dir)
    env = child_environment(settings, DAGSTER_HOME=str(home))
    os.environ["DAGSTER_HOME"] = str(home)
    from wanperf_dagster.mist import MistError

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
    import dagster as dg

    # create the instance's SQLite storage now, before the UI and this process race to create it
    dg.DagsterInstance.get().dispose()
    # the UI comes up first; history is filled in while it starts (newest day first)
    proc = subprocess.Popen(cmd, cwd=PROJECT_DIR, env=env)
    dashboard = subprocess.Popen(
        [str(Path(sys.executable).parent / "wanperf"), "dashboard", "--host", args.host],
        cwd=PROJECT_DIR,
        env=env,
    )
    print(
        f"Dagster UI: http://{args.host}:{args.port}  (Ctrl-C stops it; data stays in {data_dir})"
    )
    print(f"NOC dashboard: http://{args.host}:{settings.dashboard_port}")
    t_start = time.monotonic()
    try:
        try:
            if settings.uses_simulator:
                days = args.demo_days if args.demo_days is not None else settings.demo_days
                seed.run(argparse.Namespace(days=days, no_materialize=False))
            else:
                print(
                    "MIST_API_TOKEN is set: no simulator, no replay; a first sweep of your org now"
                )
                sweep.run(argparse.Namespace(page_limit=1000, no_insights=False))
            print(
                f"history loaded in {time.monotonic() - t_start:.0f} s: http://{args.host}:{args.port}"
            )
        except MistError as exc:
            print(f"wanperf: the first sweep failed ({exc}); the UI runs anyway", file=sys.stderr)
        return proc.wait()
    except KeyboardInterrupt:
        for child in (proc, dashboard):
            child.send_signal(signal.SIGINT)
        for child in (proc, dashboard):
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
        return 130
    finally:
        if dashboard.poll() is None:
            dashboard.terminate()
        if started is not None:  # stop what this command started; the data stays
            started.stop()
            print(f"stopped the embedded Redis; data kept in {started.dir}")
