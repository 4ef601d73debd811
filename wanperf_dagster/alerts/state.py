"""One alert per incident and one recovery when it clears, across restarts: the open incidents live
in Redis (a hash per org), with the destinations already told of each. An evaluation holds the
org's alert lock, so two evaluations at once never both send.

A send that fails is retried at once (`retries`, with back-off), then at the next evaluations,
only to the destination that missed it; after `dead_after` evaluations that all failed, the
message goes to the org's dead-letter list (`wanperf alerts --dead-letters`) and is not tried
again. A destination that took a message but failed to answer may get it again: at least once,
never silently dropped. Each incident that cleared is kept in the org's alert history."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import redis

from wanperf_dagster.store import keys

from .notify import Destination, NotifyError, send
from .rules import Incident

Sender = Callable[[Destination, str, Incident, int, dict], None]
HISTORY_KEEP = 10_000  # incidents that cleared, newest first
DEAD_KEEP = 10_000


@dataclass
class DispatchReport:
    open: int = 0
    opened: list[Incident] = field(default_factory=list)  # newly told (to at least one place)
    recovered: list[Incident] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # "slack #1: HTTP 500", never a URL
    dead_lettered: int = 0


def dispatch(
    client: redis.Redis,
    org_id: str,
    incidents: Sequence[Incident],
    destinations: Sequence[Destination],
    at: int,
    links: Callable[[Incident], dict[str, str]] = lambda i: {},
    sender: Sender = send,
    retries: int = 2,
    dead_after: int = 3,
    sleep: Callable[[float], None] = time.sleep,
) -> DispatchReport:
    """Tell each destination of the incidents that opened and of those that cleared."""
    report = DispatchReport(open=len(incidents))
    state_key = keys.alerts_open(org_id)

    def deliver(dest: Destination, event: str, incident: Incident, entry: dict) -> bool:
        """True when the destination is done with this message (sent, or dead-lettered)."""
        error = ""
        for attempt in range(retries + 1):
            try:
                sender(dest, event, incident, at, links(incident))
                return True
            except NotifyError as exc:
                error = str(exc)
                if attempt < retries:
                    sleep(0.5 * 2**attempt)
        report.errors.append(error)
        failures = entry.setdefault("failures", {})
        name = f"{event}:{dest.name}"
        failures[name] = failures.get(name, 0) + 1
        if failures[name] < dead_after:
            return False
        letter = {
            "at": at,
            "destination": dest.name,
            "event": event,
            "incident": asdict(incident),
            "attempts": failures[name] * (retries + 1),
            "error": error,
        }
        writes.lpush(keys.alerts_dead(org_id), json.dumps(letter))
        writes.ltrim(keys.alerts_dead(org_id), 0, DEAD_KEEP - 1)
        report.dead_lettered += 1
        return True

    # the evaluation's state changes, sent together before the lock is let go
    writes = client.pipeline(transaction=False)
    with client.lock(keys.alerts_lock(org_id), timeout=300, blocking_timeout=300):
        stored = {k.decode(): json.loads(v) for k, v in (client.hgetall(state_key) or {}).items()}
        now_open = {i.key: i for i in incidents}
        for key, incident in now_open.items():
            entry = stored.get(key) or {"incident": asdict(incident), "told": [], "seen_at": at}
            told = set(entry["told"])
            first = not told
            for dest in destinations:
                if dest.name not in told and deliver(dest, "alert", incident, entry):
                    told.add(dest.name)
            if first and told:
                report.opened.append(incident)
            entry["told"] = sorted(told)
            # its figures and text as they are now (a recovery then says how it ended); kept
            # even when nobody was told yet: the next evaluation retries, and the incident's
            # first instant stays the one first seen
            first_since = entry["incident"].get("since", incident.since)
            entry["incident"] = {**asdict(incident), "since": min(first_since, incident.since)}
            writes.hset(state_key, key, json.dumps(entry))
        for key, entry in stored.items():
            if key in now_open:
                continue
            incident = Incident(**entry["incident"])
            told = set(entry["told"])
            done = set(entry.get("recovered", []))
            for dest in destinations:
                owed = dest.name in told and dest.name not in done
                if owed and deliver(dest, "recovered", incident, entry):
                    done.add(dest.name)
            if {d.name for d in destinations} & told - done:
                entry["recovered"] = sorted(done)
                writes.hset(state_key, key, json.dumps(entry))
                continue
            closed = {**entry["incident"], "seen_at": entry.get("seen_at"), "cleared_at": at}
            writes.hdel(state_key, key)
            writes.lpush(keys.alerts_history(org_id), json.dumps(closed))
            writes.ltrim(keys.alerts_history(org_id), 0, HISTORY_KEEP - 1)
            report.recovered.append(incident)
        writes.execute()
    return report


def open_alerts(client: redis.Redis, org_id: str) -> list[Incident]:
    """The incidents open as of the last evaluation."""
    raw = client.hgetall(keys.alerts_open(org_id)) or {}
    return [Incident(**json.loads(v)["incident"]) for v in raw.values()]


def alert_history(client: redis.Redis, org_id: str, limit: int = 1000) -> list[dict]:
    """Incidents that cleared, newest first: the incident, when first seen and when cleared."""
    return [json.loads(v) for v in client.lrange(keys.alerts_history(org_id), 0, limit - 1)]


def dead_letters(client: redis.Redis, org_id: str, limit: int = 1000) -> list[dict]:
    """Messages no destination took after every retry, newest first."""
    return [json.loads(v) for v in client.lrange(keys.alerts_dead(org_id), 0, limit - 1)]
