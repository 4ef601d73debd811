"""The gateways' own status at each ingestion (`stats/devices`): each gateway's status, uptime and
last contact as a sample of the slot (the devices feed: `gateway_status` reads it); those
offline now, and since when, beside the port events; every gateway's WAN ports into its site's
register of circuits."""

from __future__ import annotations

import re
from collections import defaultdict

from wanperf_dagster import store
from wanperf_dagster.store import insights as feed_store

from ..fetching import bounded, quarantine, short_text

# what the gateways' own status says at each ingestion, stored beside the port events: offline
# now (GW_STATUS), and since when (GW_LAST_SEEN)
STATUS_NOW, STATUS_SINCE = "GW_STATUS", "GW_LAST_SEEN"
MAC_RE = re.compile(r"[0-9a-f]{12}")


def gateway_status(rec, now: float) -> tuple[list[dict], list[str], str]:
    """One gateway's status record: (the offline rows to store, its WAN ports, why it was
    refused or ""). A gateway offline gives a row for now and one for since when (`last_seen`,
    when it is plausible: not after now, not over a week before); one online gives none."""
    if not isinstance(rec, dict):
        return [], [], "not an object"
    mac, site = short_text(rec.get("mac")), short_text(rec.get("site_id"))
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
            for port in [short_text(v.get("port_id")) or short_text(str(name).split(".")[0], 64)]
            if port is not None
        }
    )
    if status == "connected":
        return [], ports, ""
    base = {"site_id": site, "circuit_id": None, "mac": mac, "port_id": None, "event": "offline"}
    rows = [{"ts": float(now), **base, "type": STATUS_NOW, "text": "disconnected"}]
    since = bounded(rec.get("last_seen"), now - 7 * 86400, now)
    if since is not None:
        rows.append({**base, "ts": since, "type": STATUS_SINCE, "text": "last seen"})
    return rows, ports, ""


def status_sample(rec: dict, slot: int) -> dict:
    """A gateway's status at the ingestion's slot (a record `gateway_status` accepted)."""
    status = rec["status"]
    return {
        "ts": slot,
        "site_id": rec["site_id"],
        "mac": rec["mac"],
        "status": status,
        # an uptime said while disconnected is the last one before it: not trusted as now's
        "uptime": bounded(rec.get("uptime"), 0, 10 * 365 * 86400)
        if status == "connected"
        else None,
        "last_seen": bounded(rec.get("last_seen"), 0, 4e9),
    }


def ingest(client, r, org_id, config, t, result, on_page) -> None:
    """The gateways' status now: each one's a sample of the slot (the devices feed), those
    offline stored beside the events too (offline now, and since when), and every gateway's WAN
    ports go into its site's register of circuits (first and last seen; an offline gateway's
    from when it was last seen), so a circuit whose gateway is dark still has a row each day,
    even one dark since before the first ingestion."""
    slot = int(t // config.interval_seconds * config.interval_seconds)
    path = f"/api/v1/orgs/{org_id}/stats/devices"
    pages = 0
    for page in client.iter_pages(path, {"type": "gateway"}, limit=config.page_limit):
        pages += 1
        rows, samples, bad = [], [], []
        circuits: dict[str, list[str]] = defaultdict(list)
        since: dict[str, dict[str, float]] = defaultdict(dict)  # an offline gateway's ports
        for rec in page:
            offline, ports, why = gateway_status(rec, t)
            if why:
                bad.append({"reason": why, "record": rec})
                continue
            rows += offline
            samples.append(status_sample(rec, slot))
            result.gateways += 1
            result.offline_gateways += bool(offline)
            ids = [f"{rec['mac']}:{port}" for port in ports]
            circuits[rec["site_id"]] += ids
            last_seen = [row["ts"] for row in offline if row["type"] == STATUS_SINCE]
            if last_seen:  # dark since then: its ports were there then
                since[rec["site_id"]].update(dict.fromkeys(ids, last_seen[0]))
        with store.batch(r) as pipe:
            feed_store.queue_rows(pipe, "events", rows, config.raw_ttl_seconds)
            feed_store.queue_rows(pipe, "devices", samples, config.raw_ttl_seconds)
            for site, ids in circuits.items():
                feed_store.queue_circuits_seen(
                    pipe, site, ids, t, config.circuits_ttl_seconds, since.get(site)
                )
            quarantine(pipe, org_id, "devices", bad, config)
        result.quarantined["devices"] += len(bad)
        if on_page:
            on_page("devices", len(page))
    if pages:  # the listing was read in full: what it no longer lists is gone
        with store.batch(r) as pipe:
            feed_store.queue_circuits_checked(pipe, t, config.circuits_ttl_seconds)
