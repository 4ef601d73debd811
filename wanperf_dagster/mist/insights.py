"""The WAN insight feeds: the sites' WAN SLE per hour, every VPN peer path per sample slot, and
the gateways' port up/down events since the last cursor; each saved page by page, resumable.

Everything goes through the one `MistClient`, so the shared call budget covers it. Where each feed
stands lives in one Redis hash (`keys.insights_state`), written in the same pipeline as the page
it follows, so a killed ingestion resumes at the next page and re-saves nothing twice (fields are
idempotent, see `store.insights`). Nothing a server sends is trusted: a record with a missing id,
a score outside 0..1, a negative or absurd figure, or an event outside the window asked for is
quarantined and counted, never stored.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from wanperf_dagster import store
from wanperf_dagster.settings import RAW_SAMPLE_DAYS
from wanperf_dagster.store import bulk
from wanperf_dagster.store import insights as feed_store
from wanperf_dagster.store.locks import Heartbeat, insights_lock

from .client import MistClient, MistRequestError

log = logging.getLogger(__name__)

# the spec lists no event types; public Mist webhook tools and a captured event use these
PORT_EVENT_TYPES = {"GW_PORT_DOWN": "down", "GW_PORT_UP": "up"}
# a gateway going offline (unreachable: its WAN down) and coming back, as public Mist tools name
# them; and what the gateways' own status says at each ingestion (`stats/devices`), stored beside
# them: offline now (GW_STATUS), and since when (GW_LAST_SEEN)
DEVICE_EVENT_TYPES = {"GW_DISCONNECTED": "offline", "GW_CONNECTED": "online"}
STATUS_NOW, STATUS_SINCE = "GW_STATUS", "GW_LAST_SEEN"
SLE_SCORES = {
    "gateway-health": "gateway_health",
    "wan-link-health": "wan_link_health",
    "application_health": "application_health",
}
MAX_PAGES = 10_000


class InsightsLockedError(RuntimeError):
    """Another ingestion of the same org's insight feeds is running."""


@dataclass
class InsightsConfig:
    interval_seconds: int = 600
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


# records ---------------------------------------------------------------------------------------
def _text(value, limit: int = 128) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= limit else None


# "SNMP_TRAP_LINK_DOWN: ifIndex 518, ifAdminStatus up(1), ifOperStatus down(2), ifName ge-0/0/4":
# how a gateway's port event words its port where the event carries no `port_id`
IF_NAME_RE = re.compile(r"\bifName[\s:=]+([A-Za-z0-9][A-Za-z0-9/._:-]{0,63})")


def _event_port(rec: dict) -> str | None:
    """The event's port: its `port_id` (the spec lists one), else the interface its text names
    (the GW_PORT_DOWN / GW_PORT_UP events seen in the field carry it only there), with a
    trailing `.` or `:` of the sentence left out."""
    port = _text(rec.get("port_id"))
    if port is not None:
        return port
    text = rec.get("text")
    match = IF_NAME_RE.search(text) if isinstance(text, str) else None
    return match.group(1).rstrip(".:") if match else None


def _number(value, low: float, high: float) -> float | None:
    """A finite number within [low, high] (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) and low <= value <= high else None


def sle_row(rec, hour: int) -> tuple[dict | None, str]:
    """A site's WAN SLE for one hour, or (None, why it was refused)."""
    if not isinstance(rec, dict):
        return None, "not an object"
    site = _text(rec.get("site_id"))
    if site is None:
        return None, "missing site_id"
    row: dict = {"hour": hour, "site_id": site}
    for name, column in SLE_SCORES.items():
        raw = rec.get(name)
        value = _number(raw, 0.0, 1.0)
        if value is None and (raw is not None or name == "gateway-health"):
            return None, f"{name} is not a score in 0..1"
        row[column] = value
    for name in ("num_gateways", "num_clients"):
        row[name] = _number(rec.get(name), 0, 1e7)
    return row, ""


def path_row(rec, slot: int) -> tuple[dict | None, str]:
    """One VPN peer path's sample, or (None, why it was refused)."""
    if not isinstance(rec, dict):
        return None, "not an object"
    ids = {k: _text(rec.get(k)) for k in ("site_id", "mac", "port_id", "peer_mac", "peer_port_id")}
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
        "peer_site_id": _text(rec.get("peer_site_id")),
        "type": _text(rec.get("type"), 16),
        "up": rec["up"],
    }
    for name, column, high in (
        ("latency", "latency_ms", 1e6),
        ("jitter", "jitter_ms", 1e6),
        ("loss", "loss_pct", 100),
        ("mos", "mos", 5),
    ):
        raw = rec.get(name)
        value = _number(raw, 0, high)
        if raw is not None and value is None:
            return None, f"{name} out of range"
        row[column] = value if rec["up"] else None
    return row, ""


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
    ts = _number(rec.get("timestamp"), 0, 4e9)
    if ts is None:
        return None, "timestamp is not an epoch"
    if not start <= ts < end:
        return None, "timestamp outside the window asked for"
    ids = {k: _text(rec.get(k)) for k in ("site_id", "mac")}
    if port_event:
        ids["port_id"] = _event_port(rec)
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


MAC_RE = re.compile(r"[0-9a-f]{12}")


def gateway_status(rec, now: float) -> tuple[list[dict], list[str], str]:
    """One gateway's status record: (the offline rows to store, its WAN ports, why it was
    refused or ""). A gateway offline gives a row for now and one for since when (`last_seen`,
    when it is plausible: not after now, not over a week before); one online gives none."""
    if not isinstance(rec, dict):
        return [], [], "not an object"
    mac, site = _text(rec.get("mac")), _text(rec.get("site_id"))
    if mac is None or site is None or not MAC_RE.fullmatch(mac):
        return [], [], "missing or malformed mac or site_id"
    status = rec.get("status")
    if status not in ("connected", "disconnected"):
        return [], [], f"status {str(status)[:20]!r} is neither connected nor disconnected"
    stats = rec.get("if_stat") if isinstance(rec.get("if_stat"), dict) else {}
    ports = sorted(
        {
            port
            for name, v in stats.items()
            if isinstance(v, dict) and (v.get("port_usage") == "wan" or v.get("wan_name"))
            for port in [_text(v.get("port_id")) or _text(str(name).split(".")[0], 64)]
            if port is not None
        }
    )
    if status == "connected":
        return [], ports, ""
    base = {"site_id": site, "circuit_id": None, "mac": mac, "port_id": None, "event": "offline"}
    rows = [{"ts": float(now), **base, "type": STATUS_NOW, "text": "disconnected"}]
    since = _number(rec.get("last_seen"), now - 7 * 86400, now)
    if since is not None:
        rows.append({**base, "ts": since, "type": STATUS_SINCE, "text": "last seen"})
    return rows, ports, ""


# ingestion -------------------------------------------------------------------------------------
def _quarantine(pipe, org_id: str, feed: str, bad: list[dict], config: InsightsConfig) -> None:
    records = [json.dumps(b, default=str)[:2000] for b in bad]
    bulk.queue_quarantine(pipe, org_id, f"insights-{feed}", records, config.quarantine_ttl_seconds)


def run_insights(
    client: MistClient,
    r: store.Redis,
    config: InsightsConfig | None = None,
    now: Callable[[], float] | None = None,
    feeds: tuple[str, ...] = feed_store.FEEDS,
    on_page: Callable[[str, int], None] | None = None,
) -> InsightsResult:
    """Bring the feeds up to now: the SLE of every complete hour not yet fetched, this slot's
    VPN paths, the events since the last cursor. One ingestion per org at a time."""
    config = config or InsightsConfig()
    now = now or client.clock
    calls = client.calls
    org_id = client.resolve_org_id()
    lock = insights_lock(r, org_id, config.lock_ttl_seconds)
    if not lock.acquire():
        raise InsightsLockedError(f"another ingestion of org {org_id}'s insight feeds is running")
    result = InsightsResult()
    heartbeat = Heartbeat(lock, config.lock_ttl_seconds).__enter__()
    try:
        state = feed_store.IngestionState(r, org_id)
        t = now()
        if "sle" in feeds:
            _sle(client, r, org_id, state, config, t, result, on_page)
        if "paths" in feeds:
            _paths(client, r, org_id, state, config, t, result, on_page)
        if "events" in feeds:
            _events(client, r, org_id, state, config, t, result, on_page)
            _devices(client, r, org_id, config, t, result, on_page)
        return result
    finally:
        heartbeat.__exit__()
        result.calls = client.calls - calls
        lock.release()


def _sle(client, r, org_id, state, config, t, result, on_page) -> None:
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
            served_end = _number(body.get("end"), 0, 4e9)
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
                _quarantine(pipe, org_id, "sle", bad, config)
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


def _search(client, path: str, params: dict, start_url: str | None, result, feed: str):
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


def _paths(client, r, org_id, state, config, t, result, on_page) -> None:
    slot = int(t // config.interval_seconds * config.interval_seconds)
    if state.int("paths_done") == slot:
        return
    start_url = None
    if state.int("paths_slot") == slot and state.values.get("paths_next"):
        start_url = state.values["paths_next"]
        result.resumed.append(f"paths {slot}")
    path = f"/api/v1/orgs/{org_id}/stats/vpn_peers/search"
    searched = _search(client, path, {"limit": config.page_limit}, start_url, result, "paths")
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
            _quarantine(pipe, org_id, "paths", bad, config)
            if nxt:
                state.queue(pipe, paths_slot=slot, paths_next=nxt)
            else:
                state.queue(pipe, paths_done=slot, paths_slot=None, paths_next=None)
        result.paths += len(rows)
        result.quarantined["paths"] += len(bad)
        if on_page:
            on_page("paths", len(rows))


def _events(client, r, org_id, state, config, t, result, on_page) -> None:
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
    searched = _search(client, path, params, start_url, result, "events")
    for pages, (body, nxt) in enumerate(searched, 1):
        if pages > MAX_PAGES:
            raise MistRequestError(f"GET {path}: more than {MAX_PAGES} pages", f"GET {path}", 0)
        served_end = _number(body.get("end"), 0, 4e9)
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
            _quarantine(pipe, org_id, "events", bad, config)
            if nxt:
                state.queue(pipe, events_next=nxt)
            else:  # the window is complete: events now say when ports were down in it
                if covered > start:
                    feed_store.queue_coverage(pipe, start, covered)
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


def _devices(client, r, org_id, config, t, result, on_page) -> None:
    """The gateways' status now: those offline are stored beside the events (offline now, and
    since when), and every gateway's WAN ports go into its site's register of circuits (first
    and last seen), so a circuit whose gateway is dark still has a row each day."""
    path = f"/api/v1/orgs/{org_id}/stats/devices"
    pages = 0
    for page in client.iter_pages(path, {"type": "gateway"}, limit=config.page_limit):
        pages += 1
        rows, bad = [], []
        circuits: dict[str, list[str]] = defaultdict(list)
        for rec in page:
            offline, ports, why = gateway_status(rec, t)
            if why:
                bad.append({"reason": why, "record": rec})
                continue
            rows += offline
            result.gateways += 1
            result.offline_gateways += bool(offline)
            circuits[rec["site_id"]] += [f"{rec['mac']}:{port}" for port in ports]
        with store.batch(r) as pipe:
            feed_store.queue_rows(pipe, "events", rows, config.raw_ttl_seconds)
            for site, ids in circuits.items():
                feed_store.queue_circuits_seen(pipe, site, ids, t, config.circuits_ttl_seconds)
            _quarantine(pipe, org_id, "devices", bad, config)
        result.quarantined["devices"] += len(bad)
        if on_page:
            on_page("devices", len(page))
    if pages:  # the listing was read in full: what it no longer lists is gone
        with store.batch(r) as pipe:
            feed_store.queue_circuits_checked(pipe, t, config.circuits_ttl_seconds)
