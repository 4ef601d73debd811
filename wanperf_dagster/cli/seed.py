"""`wanperf seed`: the simulated org's last days, replayed and materialized."""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from wanperf_dagster.settings import get_settings, pin_start_date

from .common import RAW, redis_client, use_project_dagster_home


def add_parser(sub) -> None:
    seed = sub.add_parser(
        "seed",
        help="replay the simulated org's last days and materialize their KPIs",
        description="Sweep the built-in simulator at every poll slot of the last N days (skipping"
        " slots replayed before), then materialize those days' snapshots, KPIs and rollups.",
        epilog="examples:\n  wanperf seed --days 3\n  wanperf seed --days 1 --no-materialize",
        formatter_class=RAW,
    )
    seed.add_argument("--days", type=float, default=3)
    seed.add_argument("--no-materialize", action="store_true", help="only replay the sweeps")
    seed.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from wanperf_dagster import demo

    settings = get_settings()
    if not settings.uses_simulator:
        print(
            "wanperf: seed replays the simulator's history; unset MIST_API_TOKEN to use it",
            file=sys.stderr,
        )
        return 2
    start_date = pin_start_date(settings)
    use_project_dagster_home(settings)
    r = redis_client()
    what = (
        f"a simulated MSP of {len(settings.sim_msp)} orgs"
        f" ({sum(n for _, n in settings.sim_msp)} sites, WANPERF_SIM_MSP)"
        if settings.sim_msp
        else f"a simulated org of {settings.sim_sites} sites (seed {settings.sim_seed})"
    )
    print(
        f"replaying {args.days:g} day(s) of {what}, one sweep every"
        f" {settings.interval_minutes} min, through the real client and sweep"
    )
    n = demo.replay(
        r,
        settings.sim_sites,
        settings.sim_seed,
        args.days,
        settings.poll_interval,
        on_progress=lambda d, t, t0: demo.progress_bar(d, t, t0, "sweeps"),
        feeds=settings.insight_feeds,
        msp=settings.sim_msp,
    )
    if n == 0:
        print("  history already replayed up to now")
    if args.no_materialize:
        return 0
    days = demo.days_touched(args.days, dt.datetime.now(dt.UTC), start_date)
    print(f"materializing snapshots and KPIs for {len(days)} day(s) into the Dagster instance")
    demo.materialize_days(days)
    return 0
