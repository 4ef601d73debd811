"""The `wanperf` command."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from wanperf_dagster import store
from wanperf_dagster.settings import (
    Settings,
    SettingsError,
    child_environment,
    get_settings,
    pin_start_date,
    redact_url,
)

PROJECT_DIR = Path(__file__).resolve().parent.parent


def _dagster_home(data_dir: Path) -> Path:
    """DAGSTER_HOME under the data dir, holding the instance's dagster.yaml: the project's
    deploy/dagster.yaml with the run queue sized to this machine's cores, on SQLite, or on
    Postgres when WANPERF_DAGSTER_PG_URL is set."""
    from wanperf_dagster.instance.config import write_instance_config

    home = data_dir / "dagster_home"
    write_instance_config(home, get_settings())
    return home


def _use_project_dagster_home(settings: Settings) -> Path:
    """DAGSTER_HOME for this process: the given one, or the project's under the data dir."""
    if not os.environ.get("DAGSTER_HOME"):
        os.environ["DAGSTER_HOME"] = str(_dagster_home(settings.data_dir))
    return Path(os.environ["DAGSTER_HOME"])


def cmd_redis(args: argparse.Namespace) -> int:
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


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def cmd_dev(args: argparse.Namespace) -> int:
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
    home = _dagster_home(data_dir)
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
                cmd_seed(argparse.Namespace(days=days, no_materialize=False))
            else:
                print(
                    "MIST_API_TOKEN is set: no simulator, no replay; a first sweep of your org now"
                )
                cmd_sweep(argparse.Namespace(page_limit=1000))
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


def cmd_alerts(args: argparse.Namespace) -> int:
    import datetime as dt

    from wanperf_dagster import alerts
    from wanperf_dagster.sources import client_from_settings

    settings = get_settings()
    assets = _asset_store()
    client = client_from_settings(settings, ledger=store.RedisCallLedger(assets.client))
    org = client.resolve_org_id()

    def when(epoch) -> str:
        if epoch is None:
            return "-"
        return dt.datetime.fromtimestamp(int(epoch), dt.UTC).strftime("%Y-%m-%d %H:%M")

    if args.evaluate:
        from wanperf_dagster.kpi import KpiConfig

        sites_table = assets.latest("mist_sites")
        sites = sites_table.to_pandas() if sites_table is not None else None
        _, report = alerts.evaluate(
            assets,
            org,
            [s for s, _ in assets.sites_by_age(org)],
            int(client.clock()),
            settings.interval_minutes,
            alerts.AlertRules.from_settings(settings),
            KpiConfig.for_sites(sites),
            alerts.destinations(settings.alert_webhooks, settings.alert_slack_webhooks),
            links=lambda i: alerts.incident_links(settings.dashboard_url, settings.dagster_url, i),
        )
        if report.locked_out:
            print(f"not evaluated: {report.errors[0]}")
        else:
            print(
                f"evaluated: {report.open} open, {len(report.opened)} newly told, "
                f"{report.sent} message(s) delivered, {len(report.recovered)} recovered, "
                f"{len(report.errors)} undelivered, {report.pending} left for the next"
                f" evaluation, {report.dead_lettered} dead-lettered"
            )
    if args.dead_letters:
        letters = alerts.dead_letters(assets, org, args.limit)
        print(f"{len(letters)} dead letter(s), newest first")
        for d in letters:
            i = d["incident"]
            print(
                f"  {when(d['at'])}  {d['destination']:<11} {d['event']:<9} {i['kind']:<10}"
                f" {i['site_name']}  {i['circuit_id'] or ''}  ({d['error']}, {d['attempts']} tries)"
            )
        return 0
    if args.history:
        past = alerts.alert_history(assets, org, args.limit)
        print(f"{len(past)} cleared incident(s), newest first")
        for h in past:
            print(
                f"  {when(h['since'])} → {when(h['cleared_at'])}  {h['kind']:<10} {h['site_name']}"
                f"  {h['circuit_id'] or ''}  {h['detail']}"
            )
        return 0
    open_now = sorted(alerts.open_alerts(assets, org), key=lambda i: (i.kind, i.site_name))
    print(f"{len(open_now)} open incident(s)")
    for i in open_now[: args.limit]:
        print(
            f"  since {when(i.since)}  {i.kind:<10} {i.site_name}  {i.circuit_id or ''}  {i.detail}"
        )
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    import uvicorn

    from wanperf_dagster.dashboard import build_app

    settings = get_settings()
    port = args.port or settings.dashboard_port
    app = build_app(settings, _asset_store())
    print(f"NOC dashboard: http://{args.host}:{port}  (reads {settings.dagster_url} for links)")
    uvicorn.run(app, host=args.host, port=port, log_level="warning")
    return 0


def _redis():
    settings = get_settings()
    return store.connect(store.resolve_redis_url(settings.redis_url, settings.data_dir))


def _asset_store():
    from wanperf_dagster.storage import AssetStore

    return AssetStore.from_settings(get_settings())


def _ago(seconds: float) -> str:
    seconds = max(seconds, 0)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def cmd_sweep(args: argparse.Namespace) -> int:
    from wanperf_dagster.mist import SweepConfig, run_sweep
    from wanperf_dagster.sources import client_from_settings, describe_source

    settings = get_settings()
    client = client_from_settings(settings, ledger=store.RedisCallLedger(_redis()))
    print(f"sweeping org {client.resolve_org_id()} from {describe_source(settings, client)}")

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
    if settings.insight_feeds and not args.no_insights:
        from wanperf_dagster.mist import InsightsConfig, run_insights

        result = run_insights(
            client,
            _redis(),
            InsightsConfig(interval_seconds=settings.poll_interval, page_limit=args.page_limit),
            feeds=settings.insight_feeds,
        )
        window = (
            f" ({_utc(result.event_window[0])} to {_utc(result.event_window[1])})"
            if result.event_window
            else ""
        )
        print(
            f"insights ({', '.join(settings.insight_feeds)}): {result.sle_hours} SLE hours"
            f" ({result.sle_rows:,} site-hours), {result.paths:,} VPN paths,"
            f" {result.events:,} port events{window},"
            f" {sum(result.quarantined.values()):,} quarantined, {result.calls} calls"
        )
    return 0


def _utc(epoch: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(epoch))


def cmd_status(args: argparse.Namespace) -> int:
    import time

    from wanperf_dagster.sources import client_from_settings, describe_source

    settings = get_settings()
    assets = _asset_store()
    client = client_from_settings(settings, ledger=store.RedisCallLedger(assets.client))
    org = client.resolve_org_id()
    now = client.clock()
    print(f"org {org} ({describe_source(settings, client)})")
    recent = assets.sweeps(org, args.sweeps)
    if not recent:
        print("no sweep yet: run `wanperf sweep`")
    for s in recent:
        print(
            f"  {s.id}  {s.status:<11} {_ago(now - s.started_at):>7} ago  {s.pages:>4} pages "
            f"{s.samples:>8,} samples {s.quarantined:>5,} quarantined"
            + (f"  ({s.error})" if s.error else "")
        )
    ages = assets.sites_by_age(org)
    if ages:
        stale = sum(1 for _, t in ages if now - t > 2 * settings.poll_interval)
        print(
            f"cache: {len(ages):,} sites; newest {_ago(now - ages[-1][1])} old, oldest "
            f"{_ago(now - ages[0][1])} old; {stale:,} older than two poll intervals"
        )
    state = assets.insights_state(org)
    windows = assets.event_coverage(0, now + 86400)
    if state or windows:
        next_hour = state.get("sle_next_hour", "")
        print(
            "insight feeds: SLE fetched up to "
            + (_utc(int(next_hour)) if next_hour.isdigit() else "nothing yet")
            + "; port events covered "
            + (
                ", ".join(f"{_utc(s)} to {_utc(e)}" for s, e in windows[-3:])
                if windows
                else "nowhere yet"
            )
            + (f" ({len(windows)} windows)" if len(windows) > 3 else "")
        )
    client.sync_budget()
    left = client.budget_left()
    reset = time.strftime("%H:%M", time.gmtime(client.resets_at()))
    print(
        f"budget: {left:,} calls left this hour over {len(client.budgets)} token(s); resets at {reset} UTC"
    )
    return 0


def cmd_sim(args: argparse.Namespace) -> int:
    from wanperf_dagster.simulator.__main__ import main as sim_main

    argv = [
        "--host",
        args.host,
        "--port",
        str(args.port),
        "--sites",
        str(args.sites),
        "--seed",
        str(args.seed),
    ]
    for token in args.token or []:
        argv += ["--token", token]
    if args.admin:
        argv.append("--admin")
    return sim_main(argv)


def cmd_seed(args: argparse.Namespace) -> int:
    import datetime as dt

    from wanperf_dagster import demo

    settings = get_settings()
    if not settings.uses_simulator:
        print(
            "wanperf: seed replays the simulator's history; unset MIST_API_TOKEN to use it",
            file=sys.stderr,
        )
        return 2
    start_date = pin_start_date(settings)
    _use_project_dagster_home(settings)
    r = _redis()
    print(
        f"replaying {args.days:g} day(s) of a simulated org of {settings.sim_sites} sites"
        f" (seed {settings.sim_seed}), one sweep every {settings.interval_minutes} min,"
        " through the real client and sweep"
    )
    n = demo.replay(
        r,
        settings.sim_sites,
        settings.sim_seed,
        args.days,
        settings.poll_interval,
        on_progress=lambda d, t, t0: demo.progress_bar(d, t, t0, "sweeps"),
        feeds=settings.insight_feeds,
    )
    if n == 0:
        print("  history already replayed up to now")
    if args.no_materialize:
        return 0
    days = demo.days_touched(args.days, dt.datetime.now(dt.UTC), start_date)
    print(f"materializing snapshots and KPIs for {len(days)} day(s) into the Dagster instance")
    demo.materialize_days(days)
    return 0


def parse_day(text: str, today=None) -> str:
    """A UTC day from `YYYY-MM-DD`, `today`, `yesterday` or `-N` (N days ago); raises
    argparse.ArgumentTypeError with what is allowed."""
    import datetime as dt

    today = today or dt.datetime.now(dt.UTC).date()
    value = text.strip().lower()
    allowed = "allowed: YYYY-MM-DD, today, yesterday, or -N for N days ago"
    if value == "today":
        return today.isoformat()
    if value == "yesterday":
        return (today - dt.timedelta(days=1)).isoformat()
    if value.startswith("-") and value[1:].isdigit():
        return (today - dt.timedelta(days=int(value[1:]))).isoformat()
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day ({allowed})") from None
    if day > today:
        raise argparse.ArgumentTypeError(f"{text} is in the future ({allowed})")
    return day.isoformat()


def positive_count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{n} rows: ask for 1 or more")
    return n


def _inventory(assets):
    sites = assets.latest("mist_sites")
    if sites is None:
        raise SystemExit(
            "wanperf: no mist_sites yet: run `wanperf seed` or materialize mist_sites in the UI"
        )
    return sites.to_pandas()


def _resolve_site(assets, text: str) -> tuple[str, str]:
    """(site id, partition key) of a site given by name (any case), id or partition key."""
    from wanperf_dagster.storage import site_id_of

    sites = _inventory(assets)
    wanted = text.strip()
    by_id = sites[sites["site_id"] == site_id_of(wanted)]
    by_name = sites[sites["name"].str.lower() == wanted.lower()]
    found = by_id if len(by_id) else by_name
    if len(found) == 1:
        site_id = str(found["site_id"].iloc[0])
        return site_id, assets.site_keys([site_id])[0]
    if len(found) > 1:
        raise SystemExit(
            f"wanperf: {len(found)} sites are named {wanted!r}; give the site id instead"
        )
    close = sites[sites["name"].str.lower().str.contains(wanted.lower(), regex=False)]
    hint = f"; did you mean {', '.join(close['name'].head(5))}?" if len(close) else ""
    raise SystemExit(f"wanperf: no site named {wanted!r} or with that id{hint}")


def _partitioning(asset: str) -> str:
    """How an asset is partitioned ("site_day", "day", ...), from the code location itself; exits
    with the stored assets when `asset` is not one of them."""
    from wanperf_dagster.dagster_io.partitions import partitioning_of
    from wanperf_dagster.definitions import defs

    kinds = partitioning_of(defs())
    if asset not in kinds:
        raise SystemExit(f"wanperf: no asset {asset!r}; stored assets: {', '.join(sorted(kinds))}")
    return kinds[asset]


def _load(asset: str, day: str, site: str | None):
    """The asset's stored rows of a day (every site, or one), with the sites' names and regions
    beside their ids when the rows carry only ids."""
    import pyarrow as pa

    from wanperf_dagster.storage import site_day_key

    assets = _asset_store()
    kind = _partitioning(asset)
    shown = f" and site {site}" if site else ""
    if kind == "site_day":
        if site:
            site_keys = [_resolve_site(assets, site)[1]]
        else:
            site_keys = assets.site_keys([str(s) for s in _inventory(assets)["site_id"]])
        keys_ = [site_day_key(day, k) for k in site_keys]
    elif kind == "day":
        keys_ = [day]
    elif kind == "none":
        keys_ = [None]
    else:
        raise SystemExit(
            f"wanperf: {asset} is partitioned by {kind}, not by day; not exportable here"
        )
    loaded = assets.load(asset, keys_, allow_missing=True)
    if not loaded.found:
        raise SystemExit(
            f"wanperf: no stored {asset} for {day}{shown}; materialize it first"
            " (Dagster UI, or `wanperf seed`)"
        )
    if loaded.missing:
        print(
            f"note: {len(loaded.missing)} of {len(keys_)} partitions not materialized; left out",
            file=sys.stderr,
        )
    table = loaded.table
    if "site_id" in table.column_names and "site_name" not in table.column_names:
        sites = _inventory(assets)
        ids = [str(x) for x in table.column("site_id").to_pylist()]
        names = dict(zip(sites["site_id"].astype(str), sites["name"].astype(str), strict=True))
        regions = dict(zip(sites["site_id"].astype(str), sites["region"].astype(str), strict=True))
        at = table.column_names.index("site_id") + 1
        table = table.add_column(at, "site_name", pa.array([names.get(i) for i in ids]))
        if "region" not in table.column_names:
            table = table.add_column(at + 1, "region", pa.array([regions.get(i) for i in ids]))
    return table


def cmd_export(args: argparse.Namespace) -> int:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    table = _load(args.asset, args.day, args.site)
    if args.format == "parquet":
        out = args.output or f"{args.asset}_{args.day}.parquet"
        pq.write_table(table, out)
        print(f"wrote {table.num_rows:,} rows to {out}", file=sys.stderr)
    else:
        import pyarrow as pa

        # dictionary (categorical) columns as plain strings: CSV has no such thing
        table = pa.table(
            {
                n: (c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c)
                for n, c in zip(table.column_names, table.columns, strict=True)
            }
        )
        if args.output:
            pacsv.write_csv(table, args.output)
            print(f"wrote {table.num_rows:,} rows to {args.output}", file=sys.stderr)
        else:
            pacsv.write_csv(table, sys.stdout.buffer)
    return 0


def cmd_top(args: argparse.Namespace) -> int:
    from wanperf_dagster import kpi

    frame = _load("circuit_kpis", args.day, None).to_pandas()
    measures = kpi.kpi_measures(frame)
    if args.kpi not in measures:
        raise SystemExit(
            f"wanperf: {args.kpi!r} is not a KPI of circuit_kpis; choose one of:"
            f" {', '.join(measures)}"
        )
    top = kpi.top_offenders(frame, args.kpi, args.n)
    if top.empty:
        print(f"no circuit has a value for {args.kpi} on {args.day}")
        return 0
    second = kpi.tie_breaker(args.kpi)
    cols = ["rank", "site_name", "region", "circuit_id", args.kpi, second]
    cols = list(dict.fromkeys(c for c in cols if c in top.columns))
    view = top[cols].copy()
    if "down_seconds" in view:  # the one down figure, in minutes as the dashboard shows it
        view.insert(view.columns.get_loc("down_seconds"), "down_min", view["down_seconds"] / 60)
        view = view.drop(columns="down_seconds")
    for c in view.columns:
        if view[c].dtype.kind == "f":
            view[c] = view[c].round(2)
    print(f"worst {len(view)} circuits by {args.kpi} on {args.day} (ties by {second})")
    print(view.to_string(index=False))
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    import duckdb
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    assets = _asset_store()
    try:
        table = assets.history_query(args.sql)
    except duckdb.Error as exc:
        raise SystemExit(f"wanperf: the query failed: {str(exc).splitlines()[0]}") from None
    if args.format == "parquet":
        if not args.output:
            raise SystemExit("wanperf: --format parquet needs --output FILE")
        pq.write_table(table, args.output)
        print(f"wrote {table.num_rows:,} rows to {args.output}", file=sys.stderr)
    elif args.format == "csv":
        pacsv.write_csv(_plain_columns(table), args.output or sys.stdout.buffer)
    else:
        frame = table.to_pandas()
        with __import__("pandas").option_context(
            "display.max_rows", args.rows, "display.width", 200
        ):
            print(frame.head(args.rows).to_string(index=False) if len(frame) else "(no rows)")
        if len(frame) > args.rows:
            print(f"... {len(frame) - args.rows:,} more rows (--rows, or --format csv)")
    return 0


def _plain_columns(table):
    """Dictionary (categorical) columns as plain values: CSV has no such thing."""
    import pyarrow as pa

    return pa.table(
        {
            n: (c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c)
            for n, c in zip(table.column_names, table.columns, strict=True)
        }
    )


def cmd_warehouse(args: argparse.Namespace) -> int:
    assets = _asset_store()
    if assets.history is None:
        raise SystemExit("wanperf: no history tier is configured")
    target = args.to or f"duckdb:{get_settings().data_dir / 'history.duckdb'}"
    for asset, rows in assets.export_history(target, on_progress=print):
        print(f"  {asset}: {rows:,} rows")
    print(f"exported to {redact_url(target)}")
    return 0


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
"""


def cmd_daemon(args: argparse.Namespace) -> int:
    from wanperf_dagster.instance import daemon

    settings = get_settings()
    passed = list(args.dagster_args)
    if passed[:1] == ["--"]:
        passed = passed[1:]
    if {"-h", "--help"} & set(passed):  # help writes nothing, not even the instance's config
        daemon.run(["--help"], 0)
        return 0
    _use_project_dagster_home(settings)
    if not {"-w", "--workspace", "-m", "--module-name", "-f", "--python-file"} & set(passed):
        passed += ["-m", "wanperf_dagster.definitions"]
    wake = settings.backfill_wake_seconds
    print(
        "wanperf daemon: looks for new backfills and their finished runs every "
        + (f"{wake:g} s (WANPERF_BACKFILL_WAKE_SECONDS)" if wake else "30 s (Dagster's own loop)"),
        flush=True,
    )
    daemon.run(passed, wake)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    import socket
    import tempfile

    settings = get_settings()
    if not settings.celery_broker:
        raise SystemExit(
            "wanperf: a worker needs WANPERF_CELERY_BROKER (amqp://user@host:5672// or redis://...)"
        )
    home = _use_project_dagster_home(settings)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wanperf",
        description="WAN performance analytics for Juniper Mist organisations (Dagster project).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    raw = argparse.RawDescriptionHelpFormatter
    day_help = "UTC day: YYYY-MM-DD, today, yesterday or -N (N days ago); default yesterday"

    dev = sub.add_parser(
        "dev",
        help="start the embedded Redis and the Dagster UI (what `make run` does)",
        description="Start the embedded Redis (unless WANPERF_REDIS_URL is set) and `dagster dev`"
        " (webserver and daemon). Without MIST_API_TOKEN, replay the simulated org's last days"
        " and materialize them; with it, sweep your org once. Ctrl-C stops everything it started;"
        " the data stays in WANPERF_DATA_DIR.",
        epilog="examples:\n  wanperf dev\n  wanperf dev --port 3001 --demo-days 1\n"
        "  MIST_API_TOKEN=... MIST_HOST=api.eu.mist.com wanperf dev",
        formatter_class=raw,
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
    dev.set_defaults(func=cmd_dev)

    red = sub.add_parser(
        "redis",
        help="start, stop or inspect the embedded Redis",
        description="Manage the embedded Valkey server under WANPERF_DATA_DIR (default .wanperf/):"
        " start it, stop it (only a valkey-server is ever signalled), or say whether it runs.",
        epilog="examples:\n  wanperf redis status\n  wanperf redis stop",
        formatter_class=raw,
    )
    red.add_argument("action", choices=["start", "stop", "status"])
    red.set_defaults(func=cmd_redis)

    sweep = sub.add_parser(
        "sweep",
        help="one sweep of the org's gateway WAN ports into Redis, now",
        description="Fetch every gateway port's stats (paged), save each page to Redis as it arrives."
        " Resumes an interrupted sweep while its sample slot lasts; then brings the WAN insight"
        " feeds up to now (WANPERF_INSIGHT_FEEDS; --no-insights skips them). Without MIST_API_TOKEN (and"
        " MIST_HOST) the built-in simulator answers.",
        epilog="examples:\n  wanperf sweep\n  MIST_API_TOKEN=... MIST_HOST=api.eu.mist.com wanperf sweep",
        formatter_class=raw,
    )
    sweep.add_argument("--page-limit", type=int, default=1000, help="records per page (max 1000)")
    sweep.add_argument(
        "--no-insights",
        action="store_true",
        help="skip the WAN insight feeds (SLE, VPN paths, port events) after the sweep",
    )
    sweep.set_defaults(func=cmd_sweep)

    status = sub.add_parser(
        "status",
        help="last sweeps, cache ages and the API budget",
        description="Show the recent sweeps, how old each site's newest sample is, and the calls"
        " left this hour.",
        epilog="examples:\n  wanperf status\n  wanperf status --sweeps 20",
        formatter_class=raw,
    )
    status.add_argument("--sweeps", type=positive_count, default=5, help="recent sweeps to list")
    status.set_defaults(func=cmd_status)

    sim = sub.add_parser(
        "sim",
        help="serve the Mist API simulator",
        description="Serve the simulated Mist API (a deterministic org) until Ctrl-C.",
        epilog="example: wanperf sim --port 8765 --sites 200 --token t1\n"
        "then: MIST_HOST=http://127.0.0.1:8765 MIST_API_TOKEN=t1 wanperf sweep",
        formatter_class=raw,
    )
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8765)
    sim.add_argument("--sites", type=int, default=200)
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument(
        "--token", action="append", help="accepted token (repeatable; default sim-token)"
    )
    sim.add_argument(
        "--admin",
        action="store_true",
        help="enable the /admin clock, faults and truth endpoints (for token holders)",
    )
    sim.set_defaults(func=cmd_sim)

    seed = sub.add_parser(
        "seed",
        help="replay the simulated org's last days and materialize their KPIs",
        description="Sweep the built-in simulator at every poll slot of the last N days (skipping"
        " slots replayed before), then materialize those days' snapshots, KPIs and rollups.",
        epilog="examples:\n  wanperf seed --days 3\n  wanperf seed --days 1 --no-materialize",
        formatter_class=raw,
    )
    seed.add_argument("--days", type=float, default=3)
    seed.add_argument("--no-materialize", action="store_true", help="only replay the sweeps")
    seed.set_defaults(func=cmd_seed)

    export = sub.add_parser(
        "export",
        help="write a stored asset partition as CSV or Parquet",
        description="Export an asset's stored rows for a day (all sites, or one) from Redis, with"
        " each site's name and region beside its id.",
        epilog="examples:\n  wanperf export --asset circuit_kpis --format csv > kpis.csv\n"
        "  wanperf export --asset site_snapshots --day -2 --site BARCELONA-00002\n"
        "  wanperf export --asset org_kpis --day 2026-11-26 --format parquet --output org.parquet",
        formatter_class=raw,
    )
    export.add_argument(
        "--asset",
        required=True,
        help="a stored asset partitioned by day x site or by day (circuit_kpis, org_kpis, ...)",
    )
    export.add_argument("--day", type=parse_day, default="yesterday", help=day_help)
    export.add_argument("--site", help="one site: its name, id or partition key (per-site assets)")
    export.add_argument("--format", choices=["csv", "parquet"], default="csv")
    export.add_argument("--output", "-o", help="file to write (CSV defaults to stdout)")
    export.set_defaults(func=cmd_export)

    top = sub.add_parser(
        "top",
        help="the worst circuits of a day by a KPI, as a table",
        description="Rank the day's circuits by a KPI of circuit_kpis, worst first (lowest for"
        " availability and coverage, highest otherwise), ties ordered by a second KPI; each with"
        " its site's name and region.",
        epilog="examples:\n  wanperf top\n  wanperf top --kpi availability_pct --day today -n 20\n"
        "  wanperf top --kpi flaps --day -3",
        formatter_class=raw,
    )
    top.add_argument(
        "--kpi", default="util_p95_pct", help="a KPI column of circuit_kpis (default util_p95_pct)"
    )
    top.add_argument("--day", type=parse_day, default="yesterday", help=day_help)
    top.add_argument("-n", type=positive_count, default=10, help="how many circuits (>= 1)")
    top.set_defaults(func=cmd_top)

    alerts_cmd = sub.add_parser(
        "alerts",
        help="open incidents, their history and the dead-letter list",
        description="The incidents open as of the last evaluation (`wan_alerts` runs one after"
        " every sweep), the ones that cleared, and the messages no webhook took.",
        epilog="examples:\n  wanperf alerts\n  wanperf alerts --history -n 20\n"
        "  wanperf alerts --dead-letters\n  wanperf alerts --evaluate",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    shown = alerts_cmd.add_mutually_exclusive_group()
    shown.add_argument("--history", action="store_true", help="incidents that cleared")
    shown.add_argument("--dead-letters", action="store_true", help="messages no webhook took")
    alerts_cmd.add_argument(
        "--evaluate", action="store_true", help="evaluate the rules now and send (as after a sweep)"
    )
    alerts_cmd.add_argument("-n", "--limit", type=positive_count, default=50, help="rows to show")
    alerts_cmd.set_defaults(func=cmd_alerts)
    dashboard = sub.add_parser(
        "dashboard",
        help="the NOC dashboard: WAN overview, site search, time series, open alerts",
        description="Serve the NOC dashboard (started by `wanperf dev` beside the Dagster UI):"
        " circuits down and congested now, regions, the worst circuits, a page per site with"
        " its circuits' utilisation, latency, jitter, loss and state over any stored range.",
        epilog="examples:\n  wanperf dashboard\n  wanperf dashboard --port 8051",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    dashboard.add_argument("--host", default="127.0.0.1")
    dashboard.add_argument(
        "--port", type=int, default=None, help="default WANPERF_DASHBOARD_PORT (8050)"
    )
    dashboard.set_defaults(func=cmd_dashboard)
    dmn = sub.add_parser(
        "daemon",
        help="the Dagster daemon, starting a new backfill's runs within seconds",
        description="Run `dagster-daemon run` for this code location (schedules, sensors, the run"
        " queue, backfills) with one change: the backfill daemon looks for a newly requested"
        " backfill, or a finished run of one, every WANPERF_BACKFILL_WAKE_SECONDS (default 2)"
        " instead of waiting out Dagster's fixed 30-s loop (0 keeps Dagster's loop). Options after"
        " `--` go to `dagster-daemon run`; without a workspace option the code location is"
        " wanperf_dagster.definitions. DAGSTER_HOME defaults to the project's instance.",
        epilog="examples:\n  wanperf daemon\n  wanperf daemon -- -w workspace.yaml --log-level debug",
        formatter_class=raw,
    )
    dmn.add_argument(
        "dagster_args", nargs=argparse.REMAINDER, help="options for dagster-daemon run"
    )
    dmn.set_defaults(func=cmd_daemon)

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
        formatter_class=raw,
    )
    worker.add_argument("--concurrency", type=positive_count, default=1, help="steps at a time")
    worker.add_argument("--name", help="the worker's name (default wanperf-<pid>@<host>)")
    worker.add_argument("--loglevel", default="INFO", help="Celery's log level (INFO, WARNING)")
    worker.set_defaults(func=cmd_worker)

    query = sub.add_parser(
        "query",
        help="SQL over the whole history (DuckDB over the Parquet tier)",
        description="Run a DuckDB query over the history tier: every materialized site-day, with"
        " one view per asset (site_snapshots, circuit_kpis, circuit_kpis_hourly). Prints a table,"
        " or writes CSV or Parquet.",
        epilog="examples:\n"
        '  wanperf query "SELECT day, avg(availability_pct) FROM circuit_kpis GROUP BY day"\n'
        "  wanperf query \"SELECT * FROM circuit_kpis WHERE site_name = 'LYON-00006'\" --format csv\n"
        '  wanperf query "SELECT * FROM circuit_kpis_hourly" --format parquet -o hourly.parquet',
        formatter_class=raw,
    )
    query.add_argument("sql", help="the query (DuckDB SQL)")
    query.add_argument("--format", choices=["table", "csv", "parquet"], default="table")
    query.add_argument("--output", "-o", help="file to write (CSV defaults to stdout)")
    query.add_argument("--rows", type=positive_count, default=50, help="rows a table shows")
    query.set_defaults(func=cmd_query)

    warehouse = sub.add_parser(
        "warehouse",
        help="load the history into a warehouse: a DuckDB file, or Postgres",
        description="Copy every history asset into a warehouse, one table per asset, replacing"
        " what an earlier export left: a DuckDB database file (the default,"
        " <data dir>/history.duckdb) or a Postgres database (plain COPY; the password from the"
        " URL or PGPASSWORD, never printed).",
        epilog="examples:\n  wanperf warehouse\n  wanperf warehouse --to duckdb:/srv/wan.duckdb\n"
        "  wanperf warehouse --to postgresql://wanperf@db.example/wan",
        formatter_class=raw,
    )
    warehouse.add_argument("--to", help="duckdb:FILE or postgresql://user@host/db")
    warehouse.set_defaults(func=cmd_warehouse)
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


if __name__ == "__main__":
    sys.exit(main())
