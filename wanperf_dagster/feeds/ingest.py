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

from collections.abc import Callable

from wanperf_dagster import store
from wanperf_dagster.mist import MistClient
from wanperf_dagster.store import insights as feed_store
from wanperf_dagster.store.locks import Heartbeat, insights_lock

from .devices import fetch as devices
from .events import fetch as events
from .fetching import InsightsConfig, InsightsLockedError, InsightsResult
from .paths import fetch as paths
from .sle import fetch as sle


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
        return result
    finally:
        result.calls = client.calls - calls
        lock.release()
