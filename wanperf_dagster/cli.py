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


def _redis():
    return store.connect(store.resolve_redis_url())


def _ago(seconds: float) -> str:
    seconds = max(seconds, 0)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def cmd_sweep(args: argparse.Namespace) -> int:
    from wanperf_dagster.mist import MistSettings, SweepConfig, client_from_env, run_sweep

    settings = MistSettings.from_env()
    client = client_from_env()
    source = "the built-in simulator (no MIST_API_TOKEN)" if settings.simulator else client.base_url
    print(f"sweeping org {client.resolve_org_id()} from {source}")

    def progress(e) -> None:
        s = e.session
        print(
            f"  page {s.pages:>4}: {s.records:>8,} records ({s.samples:,} WAN samples, "
            f"{s.quarantined:,} quarantined) · {e.elapsed:6.1f} s · budget left {e.budget_left:,}",
            flush=True,
        )

    config = SweepConfig(interval_seconds=settings.poll_interval, page_limit=args.page_limit)
    session = run_sweep(client, _redis(), config, on_page=progress)
    resumed = f", resumed {session.resumed}x" if session.resumed else ""
    print(
        f"done: sweep {session.id}{resumed}: {session.pages} pages, {session.records:,} records, "
        f"{session.samples:,} samples, {session.quarantined:,} quarantined, {session.calls} calls"
    )
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    import time

    from wanperf_dagster.mist import MistSettings, client_from_env
    from wanperf_dagster.store import sessions

    settings = MistSettings.from_env()
    client = client_from_env()
    org = client.resolve_org_id()
    r = _redis()
    now = client.clock()
    print(f"org {org} ({'simulator' if settings.simulator else client.base_url})")
    recent = sessions.recent(r, org, args.sweeps)
    if not recent:
        print("no sweep yet: run `wanperf sweep`")
    for s in recent:
        print(
            f"  {s.id}  {s.status:<11} {_ago(now - s.started_at):>7} ago  {s.pages:>4} pages "
            f"{s.samples:>8,} samples {s.quarantined:>5,} quarantined"
            + (f"  ({s.error})" if s.error else "")
        )
    ages = store.sites_by_age(r, org)
    if ages:
        stale = sum(1 for _, t in ages if now - t > 2 * settings.poll_interval)
        print(
            f"cache: {len(ages):,} sites; newest {_ago(now - ages[-1][1])} old, oldest "
            f"{_ago(now - ages[0][1])} old; {stale:,} older than two poll intervals"
        )
    client.sync_budget()
    left = client.budget_left()
    reset = time.strftime("%H:%M", time.gmtime(client.resets_at()))
    print(
        f"budget: {left:,} calls left this hour over {len(client.budgets)} token(s); resets at {reset} UTC"
    )
    return 0


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

    sweep = sub.add_parser(
        "sweep",
        help="one sweep of the org's gateway WAN ports into Redis, now",
        description="Fetch every gateway port's stats (paged), save each page to Redis as it arrives."
        " Resumes an interrupted sweep. Without MIST_API_TOKEN the built-in simulator answers.",
        epilog="examples:\n  wanperf sweep\n  MIST_API_TOKEN=... MIST_HOST=api.eu.mist.com wanperf sweep",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sweep.add_argument("--page-limit", type=int, default=1000, help="records per page (max 1000)")
    sweep.set_defaults(func=cmd_sweep)

    status = sub.add_parser(
        "status",
        help="last sweeps, cache ages and the API budget",
        description="Show the recent sweeps, how old each site's newest sample is, and the calls left.",
        epilog="example: wanperf status --sweeps 5",
    )
    status.add_argument("--sweeps", type=int, default=5, help="how many recent sweeps to list")
    status.set_defaults(func=cmd_status)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from wanperf_dagster.mist import MistError, SweepLockedError

    try:
        return args.func(args)
    except (store.EmbeddedRedisError, MistError, SweepLockedError) as exc:
        print(f"wanperf: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "wanperf: interrupted; an interrupted sweep resumes on the next `wanperf sweep`",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
