"""The gateways' port down/up events and their going offline and coming back, since the last
cursor, a window at a time; a complete window is recorded as covered."""

from __future__ import annotations

import re

from wanperf_dagster import store
from wanperf_dagster.mist import MistRequestError
from wanperf_dagster.store import insights as feed_store

from ..fetching import MAX_PAGES, bounded, quarantine, search, short_text

# the spec lists no event types; public Mist webhook tools and a captured event use these
PORT_EVENT_TYPES = {"GW_PORT_DOWN": "down", "GW_PORT_UP": "up"}
# a gateway going offline (unreachable: its WAN down) and coming back, as public Mist tools name
# them (the gateways' own status at each ingestion is the devices feed's)
DEVICE_EVENT_TYPES = {"GW_DISCONNECTED": "offline", "GW_CONNECTED": "online"}
# "SNMP_TRAP_LINK_DOWN: ifIndex 518, ifAdminStatus up(1), ifOperStatus down(2), ifName ge-0/0/4":
# how a gateway's port event words its port where the event carries no `port_id`
IF_NAME_RE = re.compile(r"\bifName[\s:=]+([A-Za-z0-9][A-Za-z0-9/._:-]{0,63})")


def event_port(rec: dict) -> str | None:
    """The event's port: its `port_id` (the spec lists one), else the interface its text names
    (the GW_PORT_DOWN / GW_PORT_UP events seen in the field carry it only there), with a
    trailing `.` or `:` of the sentence left out."""
    port = short_text(rec.get("port_id"))
    if port is not None:
        return port
    text = rec.get("text")
    match = IF_NAME_RE.search(text) if isinstance(text, str) else None
    return match.group(1).rstrip(".:") if match else None


def event_row(rec, start: float, end: float) -> tuple[dict | None, str]:
    """A port's down/up event or a gateway's going offline or coming back, (None, "") for an
    event of another type, or (None, why)."""
    if not isinstance(rec, dict):
        return None, "not an object"
    kind_of = rec.get("type") if isinstance(rec.get("type"), str) else None
    port_event = kind_of in PORT_EVENT_TYPES
    kind = PORT_EVENT_TYPES.get(kind_of) or DEVICE_EVENT_TYPES.get(kind_of)
    if kind is None:
        return None, ""
    ts = bounded(rec.get("timestamp"), 0, 4e9)
    if ts is None:
        return None, "timestamp is not an epoch"
    if not start <= ts < end:
        return None, "timestamp outside the window asked for"
    ids = {k: short_text(rec.get(k)) for k in ("site_id", "mac")}
    if port_event:
        ids["port_id"] = event_port(rec)
    missing = [k if k != "port_id" else "port_id (nor ifName)" for k, v in ids.items() if v is None]
    if missing:
        return None, f"missing {', '.join(missing)}"
    return {
        "ts": ts,
        "site_id": ids["site_id"],
        "circuit_id": f"{ids['mac']}:{ids['port_id']}" if port_event else None,
        "mac": ids["mac"],
        "port_id": ids.get("port_id"),
        "event": kind,
        "type": kind_of,
        "text": (rec.get("text") if isinstance(rec.get("text"), str) else "")[:200],
    }, ""


def ingest(client, r, org_id, state, config, t, result, on_page) -> None:
    start, end = state.int("events_from"), state.int("events_until")
    start_url = None
    if start is not None and end is not None:
        start_url = state.values.get("events_next") or None  # resume the window in progress
        result.resumed.append(f"events {start}..{end}")
    else:
        cursor = state.int("events_cursor")
        end = int(t) - config.events_settle_seconds
        start = end - config.events_lookback_seconds if cursor is None else cursor
        start = max(start, end - config.events_max_gap_seconds)
        if end <= start:
            return
        with store.batch(r) as pipe:
            state.queue(pipe, events_from=start, events_until=end, events_next=None)
    path = f"/api/v1/orgs/{org_id}/devices/events/search"
    params = {"device_type": "gateway", "start": start, "end": end, "limit": config.page_limit}
    # what the server says it searched: never more than asked (a clock behind ours cuts it)
    covered = end
    searched = search(client, path, params, start_url, result, "events")
    for pages, (body, nxt) in enumerate(searched, 1):
        if pages > MAX_PAGES:
            raise MistRequestError(f"GET {path}: more than {MAX_PAGES} pages", f"GET {path}", 0)
        served_end = bounded(body.get("end"), 0, 4e9)
        if served_end is not None:
            covered = max(min(covered, int(served_end)), start)
        rows, bad = [], []
        for rec in body["results"]:
            row, why = event_row(rec, start, end)
            if row is not None:
                rows.append(row)
            elif why:
                bad.append({"reason": why, "record": rec})
            else:
                result.other_events += 1
        with store.batch(r) as pipe:
            feed_store.queue_rows(pipe, "events", rows, config.raw_ttl_seconds)
            quarantine(pipe, org_id, "events", bad, config)
            if nxt:
                state.queue(pipe, events_next=nxt)
            else:  # the window is complete: events now say when ports were down in it
                if covered > start:
                    feed_store.queue_coverage(pipe, org_id, start, covered)
                state.queue(
                    pipe,
                    events_cursor=covered,
                    events_from=None,
                    events_until=None,
                    events_next=None,
                )
        result.events += len(rows)
        result.quarantined["events"] += len(bad)
        if on_page:
            on_page("events", len(rows))
    result.event_window = (start, covered)
