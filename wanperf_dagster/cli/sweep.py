"""`wanperf sweep`: one sweep of the org now, then the insight feeds."""

from __future__ import annotations

import argparse
import sys

from wanperf_dagster import store
from wanperf_dagster.settings import get_settings

from .common import RAW, redis_client, utc


def add_parser(sub) -> None:
    sweep = sub.add_parser(
        "sweep",
        help="one sweep of each org's gateway WAN ports into Redis, now",
        description="Fetch every gateway port's stats (paged), save each page to Redis as it arrives."
        " Resumes an interrupted sweep while its sample slot lasts; then brings the WAN insight"
        " feeds up to now (WANPERF_INSIGHT_FEEDS; --no-insights skips them). Without MIST_API_TOKEN (and"
        " MIST_HOST) the built-in simulator answers.",
        epilog="examples:\n  wanperf sweep\n  MIST_API_TOKEN=... MIST_HOST=api.eu.mist.com wanperf sweep",
        formatter_class=RAW,
    )
    sweep.add_argument("--page-limit", type=int, default=1000, help="records per page (max 1000)")
    sweep.add_argument(
        "--no-insights",
        action="store_true",
        help="skip the WAN insight feeds (SLE, VPN paths, port events) after the sweep",
    )
    sweep.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from wanperf_dagster.mist import SweepConfig, run_sweep, sweep_orgs
    from wanperf_dagster.sources import describe_source, org_clients_from_settings

    settings = get_settings()
    r = redis_client()
    clients = org_clients_from_settings(settings, ledger=store.RedisCallLedger(r))
    names = ", ".join(c.org_id for c in clients)
    print(f"sweeping {'org' if len(clients) == 1 else f'{len(clients)} orgs'} {names}"
          f" from {describe_source(settings, clients[0])}")  # fmt: skip

    def progress(e) -> None:
        s = e.session
        print(
            f"  {'' if len(clients) == 1 else f'{s.org_id[:8]} '}page {s.pages:>4}:"
            f" {s.records:>8,} records ({s.samples:,} WAN samples, {s.quarantined:,} quarantined)"
            f" · {e.elapsed:6.1f} s · budget left {e.budget_left:,}",
            flush=True,
        )

    config = SweepConfig(interval_seconds=settings.poll_interval, page_limit=args.page_limit)
    if len(clients) == 1:  # one org: its errors as they are
        sessions = [run_sweep(clients[0], r, config, on_page=progress)]
        failed = []
    else:  # every org, max-min fair; one org's failure does not stop the others
        swept = sweep_orgs(clients, r, config, on_page=progress)
        sessions = [o.session for o in swept if not o.error]
        failed = [o for o in swept if o.error]
    for session in sessions:
        resumed = f", resumed {session.resumed}x" if session.resumed else ""
        print(
            f"done: sweep {session.id} of org {session.org_id}{resumed}: {session.pages} pages,"
            f" {session.records:,} records, {session.samples:,} samples,"
            f" {session.quarantined:,} quarantined, {session.calls} calls"
        )
    for org in failed:
        print(f"not finished: org {org.org_id}: {org.error}", file=sys.stderr)
    if settings.insight_feeds and not args.no_insights:
        for client in clients:
            _insights(settings, r, client, args.page_limit)
    return 1 if failed else 0


def _insights(settings, r, client, page_limit: int) -> None:
    from wanperf_dagster.feeds import InsightsConfig, run_insights

    result = run_insights(
        client,
        r,
        InsightsConfig(interval_seconds=settings.poll_interval, page_limit=page_limit),
        feeds=settings.insight_feeds,
    )
    window = (
        f" ({utc(result.event_window[0])} to {utc(result.event_window[1])})"
        if result.event_window
        else ""
    )
    print(
        f"insights of org {client.org_id} ({', '.join(settings.insight_feeds)}):"
        f" {result.sle_hours} SLE hours ({result.sle_rows:,} site-hours), {result.paths:,} VPN"
        f" paths, {result.events:,} port events{window},"
        f" {sum(result.quarantined.values()):,} quarantined, {result.calls} calls"
    )
