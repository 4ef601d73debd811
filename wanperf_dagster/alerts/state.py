"""One alert per incident and one recovery when it clears, across restarts: the open incidents live
in Redis (a hash per org), with the destinations already told of each. An evaluation holds the
org's alert lock, so two evaluations at once never both send.

A destination that fails is retried at the next evaluation, only for what it missed; the others
are not told twice. A destination that took the message but failed to answer may get it again:
at least once, never silently dropped."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import redis

from wanperf_dagster.store import keys

from .notify import Destination, NotifyError, send
from .rules import Incident

Sender = Callable[[Destination, str, Incident, int, dict], None]


@dataclass
class DispatchReport:
    open: int = 0
    opened: list[Incident] = field(default_factory=list)  # newly told (to at least one place)
    recovered: list[Incident] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # "slack #1: HTTP 500", never a URL


def dispatch(
    client: redis.Redis,
    org_id: str,
    incidents: Sequence[Incident],
    destinations: Sequence[Destination],
    at: int,
    links: Callable[[Incident], dict[str, str]] = lambda i: {},
    sender: Sender = send,
) -> DispatchReport:
    """Tell each destination of the incidents that opened and of those that cleared."""
    report = DispatchReport(open=len(incidents))
    state_key = keys.alerts_open(org_id)
    with client.lock(keys.alerts_lock(org_id), timeout=120, blocking_timeout=120):
        stored = {k.decode(): json.loads(v) for k, v in (client.hgetall(state_key) or {}).items()}
        now_open = {i.key: i for i in incidents}
        for key, incident in now_open.items():
            entry = stored.get(key) or {"incident": asdict(incident), "told": []}
            told = set(entry["told"])
            first = not told
            for dest in destinations:
                if dest.name in told:
                    continue
                try:
                    sender(dest, "alert", incident, at, links(incident))
                    told.add(dest.name)
                except NotifyError as exc:
                    report.errors.append(str(exc))
            if first and told:
                report.opened.append(incident)
            entry["told"] = sorted(told)
            # kept even when nobody was told yet: the next evaluation retries, and the incident's
            # first instant stays the one first seen
            client.hset(state_key, key, json.dumps(entry))
        for key, entry in stored.items():
            if key in now_open:
                continue
            incident = Incident(**entry["incident"])
            told = set(entry["told"])
            recovered_to = set(entry.get("recovered", []))
            for dest in destinations:
                if dest.name not in told or dest.name in recovered_to:
                    continue
                try:
                    sender(dest, "recovered", incident, at, links(incident))
                    recovered_to.add(dest.name)
                except NotifyError as exc:
                    report.errors.append(str(exc))
            pending = {d.name for d in destinations} & told - recovered_to
            if pending:
                entry["recovered"] = sorted(recovered_to)
                client.hset(state_key, key, json.dumps(entry))
            else:
                client.hdel(state_key, key)
                report.recovered.append(incident)
    return report


def open_alerts(client: redis.Redis, org_id: str) -> list[Incident]:
    """The incidents open as of the last evaluation (for the dashboard and the CLI)."""
    raw = client.hgetall(keys.alerts_open(org_id)) or {}
    return [Incident(**json.loads(v)["incident"]) for v in raw.values()]
