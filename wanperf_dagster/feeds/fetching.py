"""What the insight feeds' fetchers share: their configuration and result, the checks that
trust nothing a server sends (`text`, `number`), a cursor search that restarts when its saved
cursor is refused, and the quarantine of refused records."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field

from wanperf_dagster.mist import MistRequestError
from wanperf_dagster.settings import RAW_SAMPLE_DAYS, Settings
from wanperf_dagster.store import bulk

log = logging.getLogger("wanperf_dagster.feeds")
MAX_PAGES = 10_000


class InsightsLockedError(RuntimeError):
    """Another ingestion of the same org's insight feeds is running."""


@dataclass
class InsightsConfig:
    interval_seconds: int = Settings.poll_interval  # WANPERF_POLL_INTERVAL's default
    page_limit: int = 1000
    raw_ttl_seconds: int = RAW_SAMPLE_DAYS * 86400
    quarantine_ttl_seconds: int = 14 * 86400
    sle_backfill_hours: int = 24  # the first run fetches this many past hours of SLE
    events_lookback_seconds: int = 86400  # the first run fetches events this far back
    events_max_gap_seconds: int = 7 * 86400  # never ask further back (a gap stays uncovered)
    # events reach Mist late: a window ends this long before now, and the next one starts there
    events_settle_seconds: int = 120
    lock_ttl_seconds: float = 30.0  # renewed every third of it while the ingestion runs
    circuits_ttl_seconds: int = 400 * 86400  # the register of each site's circuits


@dataclass
class InsightsResult:
    sle_hours: int = 0
    sle_rows: int = 0
    paths: int = 0
    events: int = 0
    other_events: int = 0  # events of other types, not kept
    quarantined: dict[str, int] = field(
        default_factory=lambda: {"sle": 0, "paths": 0, "events": 0, "devices": 0}
    )
    gateways: int = 0  # in the gateways' status
    offline_gateways: int = 0  # of them, offline now
    resumed: list[str] = field(default_factory=list)
    event_window: tuple[int, int] | None = None
    calls: int = 0

    @classmethod
    def total(cls, results: list[InsightsResult]) -> InsightsResult:
        """Several orgs' ingestions as one: counts summed, the event window the span of theirs."""
        out = cls()
        for r in results:
            for name in ("sle_hours", "sle_rows", "paths", "events", "other_events", "calls"):
                setattr(out, name, getattr(out, name) + getattr(r, name))
            out.gateways += r.gateways
            out.offline_gateways += r.offline_gateways
            out.resumed += r.resumed
            for feed, n in r.quarantined.items():
                out.quarantined[feed] = out.quarantined.get(feed, 0) + n
        windows = [r.event_window for r in results if r.event_window]
        if windows:
            out.event_window = (min(w[0] for w in windows), max(w[1] for w in windows))
        return out


def short_text(value, limit: int = 128) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= limit else None


def bounded(value, low: float, high: float) -> float | None:
    """A finite number within [low, high] (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) and low <= value <= high else None


def search(client, path: str, params: dict, start_url: str | None, result, feed: str):
    """Pages of a cursor search, from the saved `next` when resuming. A saved cursor the
    server no longer takes (expired: HTTP 400) restarts the search from its first page: what
    was saved stays, and saving it again changes nothing (the fields are idempotent)."""
    try:
        yield from client.iter_search(path, params, start_url=start_url)
    except MistRequestError as exc:
        if start_url is None or exc.status != 400:
            raise
        log.warning("%s: the saved cursor was refused (%s); starting the search again", feed, exc)
        result.resumed.append(f"{feed}: saved cursor refused, searched again from the start")
        yield from client.iter_search(path, params)


def quarantine(pipe, org_id: str, feed: str, bad: list[dict], config: InsightsConfig) -> None:
    records = [json.dumps(b, default=str)[:2000] for b in bad]
    bulk.queue_quarantine(pipe, org_id, f"insights-{feed}", records, config.quarantine_ttl_seconds)
