"""The WAN insight feeds' ingestion: each feed of `WANPERF_INSIGHT_FEEDS` brought up to now, in one
run per org at a time (a short lock renewed while it works).

Everything goes through the one `MistClient`, so the shared call budget covers it. Where each feed
stands lives in one Redis hash (`store.insights.IngestionState`), written in the same pipeline as
the page it follows, so a killed ingestion resumes at the next page and re-saves nothing twice
(fields are idempotent, see `store.insights`). Nothing a server sends is trusted: a record with a
missing id, a score outside 0..1, a negative or absurd figure, or an event outside the window
asked for is quarantined and counted, never stored. Each feed's fetch is in its folder.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pandas as pd

from wanperf_dagster import store
from wanperf_dagster.mist import MistClient
from wanperf_dagster.settings import RAW_SAMPLE_DAYS
from wanperf_dagster.store import bulk
from wanperf_dagster.store import insights as feed_store
from wanperf_dagster.store.locks import Heartbeat, insights_lock
from wanperf_dagster.store.samples import day_of

from .devices import fetch as devices
from .events import fetch as events
from .fetching import InsightsConfig, InsightsLockedError, InsightsResult
from .paths import fetch as paths
from .sle import fetch as sle

log = logging.getLogger(__name__)


def run_insights(
    client: MistClient,
    r: store.Redis,
    config: InsightsConfig | None = None,
    now: Callable[[], float] | None = None,
    feeds: tuple[str, ...] = feed_store.FEEDS,
    on_page: Callable[[str, int], None] | None = None,
) -> InsightsResult:
    """Bring the feeds up to now: the SLE of every complete hour not yet fetched, this slot's
    VPN paths, the events since the last cursor and the gateways' status. One ingestion per org
    at a time."""
    config = config or InsightsConfig()
    now = now or client.clock
    calls = client.calls
    org_id = client.resolve_org_id()
    lock = insights_lock(r, org_id, config.lock_ttl_seconds)
    if not lock.acquire():
        raise InsightsLockedError(f"another ingestion of org {org_id}'s insight feeds is running")
    result = InsightsResult()
    try:
        with Heartbeat(lock, config.lock_ttl_seconds):
            state = feed_store.IngestionState(r, org_id)
            t = now()
            if "sle" in feeds:
                sle.ingest(client, r, org_id, state, config, t, result, on_page)
            if "paths" in feeds:
                paths.ingest(client, r, org_id, state, config, t, result, on_page)
            if "events" in feeds:
                events.ingest(client, r, org_id, state, config, t, result, on_page)
            if "events" in feeds or "devices" in feeds:  # the events need the gateways' status
                devices.ingest(client, r, org_id, config, t, result, on_page)
            _compact_closed_days(r, org_id, state, t)
            _compact_today(r, org_id, state, t)
        return result
    finally:
        result.calls = client.calls - calls
        lock.release()


COMPACT_DAYS_AT_ONCE = 2  # about 10 s at 2,000 sites; a backlog (an upgrade) takes turns


def _compact_closed_days(r: store.Redis, org_id: str, state, t: float) -> None:
    """The first ingestion of a day compacts the feeds' days before it that are still hashes
    (one value per site-day: a day of VPN paths 170 KB a site as a hash, 7 KB compacted), at
    most `COMPACT_DAYS_AT_ONCE` days that have any a run, the oldest first: the next ingestion
    goes on. A failure leaves the hashes, read as before, for the next one."""
    today = day_of(t)
    through = state.values.get("compacted_through", "")  # the first day not compacted yet
    if through >= today:
        return
    # from there (the day the last compaction ran was today then), at most the raw lifetime
    days = _days_between(max(through, day_of(t - RAW_SAMPLE_DAYS * 86400)), today)
    try:
        sites = [site for site, _ in bulk.sites_by_age(r, org_id)]
        held = feed_store.days_held_as_hashes(r, sites, days)
        days, rest = held[:COMPACT_DAYS_AT_ONCE], held[COMPACT_DAYS_AT_ONCE:]
        done = feed_store.compact_days(r, sites, days)
        state.write(r, compacted_through=rest[0] if rest else today)
    except Exception as exc:  # the feeds stay as they are; the ingestion itself is done
        log.warning("compacting the closed days' insight feeds failed: %s", exc)
        return
    _log(done, "closed site-days")


def _compact_today(r: store.Redis, org_id: str, state, t: float) -> None:
    """The first ingestion of an hour folds today's hashes into their compacted values (a late
    or repeated row still lands in the hash, read over the value): today's VPN paths are at most
    an hour and a slot of rows as a hash, not the day's (170 KB a site by midnight; 3.3 GiB at
    20,000 sites). A failure leaves the hashes, read as before, for the next hour."""
    hour = str(int(t // 3600))
    if state.values.get("compacted_hour") == hour:
        return
    try:
        sites = [site for site, _ in bulk.sites_by_age(r, org_id)]
        done = feed_store.compact_days(r, sites, [day_of(t)])
        state.write(r, compacted_hour=hour)
    except Exception as exc:
        log.warning("compacting today's insight feeds failed: %s", exc)
        return
    _log(done, "of today's site-days")


def _log(done, what: str) -> None:
    if done.site_days:
        log.info(
            "compacted %d %s of the insight feeds (%d rows): %.1f MiB into %.1f MiB",
            done.site_days,
            what,
            done.samples,
            done.bytes_before / 2**20,
            done.bytes_after / 2**20,
        )


def _days_between(first: str, end: str) -> list[str]:
    """The days from `first` up to, not including, `end` (ISO dates)."""
    return [d.strftime("%Y-%m-%d") for d in pd.date_range(first, end, inclusive="left")]
