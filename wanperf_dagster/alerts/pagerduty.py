"""Alerts to PagerDuty, as Events API v2 events: an alert (and its repeats) triggers, a
recovery resolves, both under one `dedup_key` per episode, so PagerDuty keeps one incident for
what we keep as one. The routing key is a secret (it lets anyone open incidents): messages and
errors name the receiver by position (`pagerduty #1`)."""

from __future__ import annotations

import datetime as dt
import hashlib

from .rules import Incident

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
SEVERITY = {"critical": "critical", "warning": "warning", "info": "info"}  # ours -> PagerDuty's


def dedup_key(incident: Incident) -> str:
    """One per episode (the incident's key and its first instant), at most 255 characters."""
    key = f"wanperf:{incident.key}#{incident.since}"
    return key if len(key) <= 255 else "wanperf:" + hashlib.sha256(key.encode()).hexdigest()


def event(
    event_name: str,
    incident: Incident,
    at: int,
    links: dict[str, str],
    routing_key: str,
    title: str,
    severity: str,
    covering: tuple[int, int],
) -> dict:
    """The Events API v2 body of one message."""
    body = {
        "routing_key": routing_key,
        "event_action": "resolve" if event_name == "recovered" else "trigger",
        "dedup_key": dedup_key(incident),
    }
    if event_name == "recovered":
        return body
    where = incident.site_name + (f" · {incident.circuit_id}" if incident.circuit_id else "")
    circuits, sites = covering
    body["payload"] = {
        "summary": f"{title}: {where}: {incident.detail}"[:1024],
        "source": incident.gateway or incident.circuit_id or incident.site_id,
        "severity": SEVERITY.get(severity, "warning"),
        "timestamp": dt.datetime.fromtimestamp(at, dt.UTC).isoformat(),
        "component": incident.circuit_id or incident.gateway or incident.site_id,
        "group": incident.site_name,
        "class": incident.kind,
        "custom_details": {
            "since": dt.datetime.fromtimestamp(incident.since, dt.UTC).isoformat(),
            "value": incident.value,
            "circuits": circuits,
            "sites": sites,
            "site_names": list(incident.sites),
            "incident": incident.key,
            "message": event_name,
        },
    }
    body["links"] = [{"href": url, "text": label} for label, url in links.items()]
    body["client"] = "wanperf_dagster"
    if "dashboard" in links:
        body["client_url"] = links["dashboard"]
    return body
