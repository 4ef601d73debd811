"""`wanperf status`: the recent sweeps, the cache's ages, the insight feeds, the API budget."""

from __future__ import annotations

import argparse
import time

from wanperf_dagster import store
from wanperf_dagster.settings import get_settings

from .common import RAW, ago, asset_store, org_client, positive_count, utc


def add_parser(sub) -> None:
    status = sub.add_parser(
        "status",
        help="last sweeps, cache ages and the API budget",
        description="Show the recent sweeps, how old each site's newest sample is, and the calls"
        " left this hour.",
        epilog="examples:\n  wanperf status\n  wanperf status --sweeps 20",
        formatter_class=RAW,
    )
    status.add_argument("--sweeps", type=positive_count, default=5, help="recent sweeps to list")
    status.add_argument("--org", help="the org to show, when several are analysed (its id)")
    status.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from wanperf_dagster.sources import describe_source

    settings = get_settings()
    assets = asset_store()
    client = org_client(settings, store.RedisCallLedger(assets.client), args.org)
    org = client.org_id
    now = client.clock()
    print(f"org {org} ({describe_source(settings, client)})")
    recent = assets.sweeps(org, args.sweeps)
    if not recent:
        print("no sweep yet: run `wanperf sweep`")
    for s in recent:
        print(
            f"  {s.id}  {s.status:<11} {ago(now - s.started_at):>7} ago  {s.pages:>4} pages "
            f"{s.samples:>8,} samples {s.quarantined:>5,} quarantined"
            + (f"  ({s.error})" if s.error else "")
        )
    ages = assets.sites_by_age(org)
    if ages:
        stale = sum(1 for _, t in ages if now - t > 2 * settings.poll_interval)
        print(
            f"cache: {len(ages):,} sites; newest {ago(now - ages[-1][1])} old, oldest "
            f"{ago(now - ages[0][1])} old; {stale:,} older than two poll intervals"
        )
    state = assets.insights_state(org)
    windows = assets.event_coverage(org, 0, now + 86400)
    if state or windows:
        next_hour = state.get("sle_next_hour", "")
        print(
            "insight feeds: SLE fetched up to "
            + (utc(int(next_hour)) if next_hour.isdigit() else "nothing yet")
            + "; port events covered "
            + (
                ", ".join(f"{utc(s)} to {utc(e)}" for s, e in windows[-3:])
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
