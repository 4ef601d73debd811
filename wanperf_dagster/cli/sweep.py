"""`wanperf sweep`: one sweep of the org now, then the insight feeds."""

from __future__ import annotations

import argparse

from wanperf_dagster import store
from wanperf_dagster.settings import get_settings

from .common import RAW, redis_client, utc


def add_parser(sub) -> None:
    sweep = sub.add_parser(
        "sweep",
        help="one sweep of the org's gateway WAN ports into Redis, now",
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
    from wanperf_dagster.mist import SweepConfig, run_sweep
    from wanperf_dagster.sources import client_from_settings, describe_source

    settings = get_settings()
    r = redis_client()
    client = client_from_settings(settings, ledger=store.RedisCallLedger(r))
    print(f"sweeping org {client.resolve_org_id()} from {describe_source(settings, client)}")

    def progress(e) -> None:
        s = e.session
        print(
            f"  page {s.pages:>4}: {s.records:>8,} records ({s.samples:,} WAN samples, "
            f"{s.quarantined:,} quarantined) · {e.elapsed:6.1f} s · budget left {e.budget_left:,}",
            flush=True,
        )

    config = SweepConfig(interval_seconds=settings.poll_interval, page_limit=args.page_limit)
    session = run_sweep(client, r, config, on_page=progress)
    resumed = f", resumed {session.resumed}x" if session.resumed else ""
    print(
        f"done: sweep {session.id}{resumed}: {session.pages} pages, {session.records:,} records, "
        f"{session.samples:,} samples, {session.quarantined:,} quarantined, {session.calls} calls"
    )
    if settings.insight_feeds and not args.no_insights:
        from wanperf_dagster.feeds import InsightsConfig, run_insights

        result = run_insights(
            client,
            r,
            InsightsConfig(interval_seconds=settings.poll_interval, page_limit=args.page_limit),
            feeds=settings.insight_feeds,
        )
        window = (
            f" ({utc(result.event_window[0])} to {utc(result.event_window[1])})"
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
