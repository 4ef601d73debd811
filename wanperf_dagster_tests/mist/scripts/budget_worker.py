"""One of several processes sharing a token's hourly budget through Redis: it sweeps (unless
another process holds the sweep) and refreshes every cached site, until the budget says no, and
prints a JSON report of what it did and what it left undone.

Usage: python budget_worker.py REDIS_URL BASE_URL TOKEN NOW LIMIT
"""

import json
import sys


def main() -> None:
    from wanperf_dagster import store
    from wanperf_dagster.mist import (
        MistBudgetExhausted,
        MistClient,
        SweepConfig,
        SweepLockedError,
        refresh_stale_sites,
        run_sweep,
    )
    from wanperf_dagster.store import bulk

    redis_url, base_url, token, now, limit = sys.argv[1:6]
    now, limit = float(now), int(limit)
    r = store.connect(redis_url)
    client = MistClient(
        [token],
        base_url,
        clock=lambda: now,
        rate_limit=limit,
        ledger=store.RedisCallLedger(r),
        backoff_factor=0.01,
    )
    report: dict = {"sweep": None}
    try:
        session = run_sweep(client, r, SweepConfig(page_limit=5))
        report["sweep"] = {"status": session.status, "pages": session.pages}
    except SweepLockedError:
        report["sweep"] = {"status": "locked"}
    except MistBudgetExhausted as exc:
        report["sweep"] = {"status": "budget", "error": str(exc)}
    org = client.resolve_org_id() if client.org_id is None else client.org_id
    # every cached site counts as stale (newest sample older than a second from now), and stays
    # so after its refresh (the simulator's clock does not move), so each process has them all
    report["stale_before_refresh"] = len(bulk.stale_sites(r, org, -1, now=now))
    try:
        result = refresh_stale_sites(client, r, -1, budget_reserve=0)
        report["refresh"] = {
            "refreshed": len(result.sites),
            "skipped_for_budget": result.skipped_for_budget,
            "gone": len(result.not_found),
        }
    except MistBudgetExhausted as exc:  # before the first site: org id, stale list
        report["refresh"] = {"budget": str(exc)}
    report["calls"] = client.calls
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
