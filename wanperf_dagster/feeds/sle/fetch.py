"""The sites' WAN SLE, one complete hour at a time, page by page, resumable."""

from __future__ import annotations

from wanperf_dagster import store
from wanperf_dagster.mist import MistRequestError
from wanperf_dagster.store import insights as feed_store

from ..fetching import MAX_PAGES, bounded, log, quarantine, short_text

SLE_SCORES = {
    "gateway-health": "gateway_health",
    "wan-link-health": "wan_link_health",
    "application_health": "application_health",
}


def sle_row(rec, hour: int) -> tuple[dict | None, str]:
    """A site's WAN SLE for one hour, or (None, why it was refused)."""
    if not isinstance(rec, dict):
        return None, "not an object"
    site = short_text(rec.get("site_id"))
    if site is None:
        return None, "missing site_id"
    row: dict = {"hour": hour, "site_id": site}
    for name, column in SLE_SCORES.items():
        raw = rec.get(name)
        value = bounded(raw, 0.0, 1.0)
        if value is None and (raw is not None or name == "gateway-health"):
            return None, f"{name} is not a score in 0..1"
        row[column] = value
    for name in ("num_gateways", "num_clients"):
        row[name] = bounded(rec.get(name), 0, 1e7)
    return row, ""


def ingest(client, r, org_id, state, config, t, result, on_page) -> None:
    this_hour = int(t // 3600 * 3600)
    hour = state.int("sle_next_hour")
    if hour is None:
        hour = this_hour - config.sle_backfill_hours * 3600
    hour = max(hour, this_hour - config.sle_backfill_hours * 3600)
    path = f"/api/v1/orgs/{org_id}/insights/sites-sle"
    while hour < this_hour:  # complete hours only
        page = (state.int("sle_page") or 0) + 1 if state.int("sle_hour") == hour else 1
        if page > 1:
            result.resumed.append(f"sle {hour} page {page}")
        while True:
            if page > MAX_PAGES:
                raise MistRequestError(
                    f"GET {path}: more than {MAX_PAGES} pages for one hour", f"GET {path}", 0
                )
            body = client.get(
                path,
                {
                    "sle": "wan",
                    "start": hour,
                    "end": hour + 3600,
                    "interval": "1h",
                    "limit": config.page_limit,
                    "page": page,
                },
            ).body
            items = body.get("results") if isinstance(body, dict) else None
            if not isinstance(items, list):
                raise MistRequestError(f"GET {path} returned no `results` list", f"GET {path}", 1)
            rows, bad = [], []
            for rec in items:
                row, why = sle_row(rec, hour)
                if row is None:
                    bad.append({"reason": why, "record": rec})
                else:
                    rows.append(row)
            served_end = bounded(body.get("end"), 0, 4e9)
            if served_end is not None and served_end < hour + 3600:
                # the server's clock has not finished the hour (skew): ask again next time
                log.info("the SLE of %s is not complete on the server yet", hour)
                return
            total = body.get("total")
            done = (
                not items
                or isinstance(total, bool)
                or not isinstance(total, int)
                or page * config.page_limit >= total
            )
            with store.batch(r) as pipe:
                feed_store.queue_rows(pipe, "sle", rows, config.raw_ttl_seconds)
                quarantine(pipe, org_id, "sle", bad, config)
                if done:
                    state.queue(pipe, sle_next_hour=hour + 3600, sle_hour=None, sle_page=None)
                else:
                    state.queue(pipe, sle_hour=hour, sle_page=page)
            result.sle_rows += len(rows)
            result.quarantined["sle"] += len(bad)
            if on_page:
                on_page("sle", len(rows))
            if done:
                break
            page += 1
        result.sle_hours += 1
        hour += 3600
