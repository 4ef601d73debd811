"""Every VPN peer path's sample of this slot, page by page (a cursor search), resumable."""

from __future__ import annotations

from wanperf_dagster import store
from wanperf_dagster.mist import MistRequestError
from wanperf_dagster.store import insights as feed_store

from ..fetching import MAX_PAGES, bounded, quarantine, search, short_text


def path_row(rec, slot: int) -> tuple[dict | None, str]:
    """One VPN peer path's sample, or (None, why it was refused)."""
    if not isinstance(rec, dict):
        return None, "not an object"
    ids = {
        k: short_text(rec.get(k)) for k in ("site_id", "mac", "port_id", "peer_mac", "peer_port_id")
    }
    missing = [k for k, v in ids.items() if v is None]
    if missing:
        return None, f"missing {', '.join(missing)}"
    if not isinstance(rec.get("up"), bool):
        return None, "up is not a boolean"
    row = {
        "ts": slot,
        **ids,
        "path_id": f"{ids['mac']}:{ids['port_id']}>{ids['peer_mac']}:{ids['peer_port_id']}",
        "circuit_id": f"{ids['mac']}:{ids['port_id']}",
        "peer_site_id": short_text(rec.get("peer_site_id")),
        "type": short_text(rec.get("type"), 16),
        "up": rec["up"],
    }
    for name, column, high in (
        ("latency", "latency_ms", 1e6),
        ("jitter", "jitter_ms", 1e6),
        ("loss", "loss_pct", 100),
        ("mos", "mos", 5),
    ):
        raw = rec.get(name)
        value = bounded(raw, 0, high)
        if raw is not None and value is None:
            return None, f"{name} out of range"
        row[column] = value if rec["up"] else None
    return row, ""


def ingest(client, r, org_id, state, config, t, result, on_page) -> None:
    slot = int(t // config.interval_seconds * config.interval_seconds)
    if state.int("paths_done") == slot:
        return
    start_url = None
    if state.int("paths_slot") == slot and state.values.get("paths_next"):
        start_url = state.values["paths_next"]
        result.resumed.append(f"paths {slot}")
    path = f"/api/v1/orgs/{org_id}/stats/vpn_peers/search"
    searched = search(client, path, {"limit": config.page_limit}, start_url, result, "paths")
    for pages, (body, nxt) in enumerate(searched, start=1):
        if pages > MAX_PAGES:
            raise MistRequestError(f"GET {path}: more than {MAX_PAGES} pages", f"GET {path}", 0)
        rows, bad = [], []
        for rec in body["results"]:
            row, why = path_row(rec, slot)
            if row is None:
                bad.append({"reason": why, "record": rec})
            else:
                rows.append(row)
        with store.batch(r) as pipe:
            feed_store.queue_rows(pipe, "paths", rows, config.raw_ttl_seconds)
            quarantine(pipe, org_id, "paths", bad, config)
            if nxt:
                state.queue(pipe, paths_slot=slot, paths_next=nxt)
            else:
                state.queue(pipe, paths_done=slot, paths_slot=None, paths_next=None)
        result.paths += len(rows)
        result.quarantined["paths"] += len(bad)
        if on_page:
            on_page("paths", len(rows))
