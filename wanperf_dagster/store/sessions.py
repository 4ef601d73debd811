"""Sweep sessions in Redis: what a sweep did and where to resume it.

A session is a hash (`id`, `status`, `slot`, `cursor`, `pages`, `records`, counters, times);
`current` names the running or interrupted one; `history` orders them by start time.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass, field, fields

import redis

from wanperf_dagster.settings import RAW_SAMPLE_DAYS

from . import keys

RUNNING, INTERRUPTED, FINISHED, ABANDONED = "running", "interrupted", "finished", "abandoned"
COUNTERS = (
    "pages",
    "records",
    "samples",
    "quarantined",
    "lan_skipped",
    "zero_speed",
    "duplicates",
    "calls",
)


@dataclass
class SweepSession:
    org_id: str
    slot: int
    id: str = field(
        default_factory=lambda: time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
    )
    status: str = RUNNING
    cursor: str = ""  # the next page to fetch ("" before the first page, and when done)
    started_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    finished_at: float = 0.0
    pages: int = 0
    records: int = 0
    samples: int = 0
    quarantined: int = 0
    lan_skipped: int = 0
    zero_speed: int = 0
    duplicates: int = 0
    calls: int = 0
    resumed: int = 0
    total: int = -1  # port records the first page announced (-1: none)
    max_pages: int = 0  # the page cap derived from it
    error: str = ""

    def to_redis(self) -> dict[str, str]:
        return {k: json.dumps(v) for k, v in asdict(self).items()}

    @classmethod
    def from_redis(cls, h: dict) -> SweepSession:
        names = {f.name for f in fields(cls)}
        data = {k.decode() if isinstance(k, bytes) else k: json.loads(v) for k, v in h.items()}
        return cls(**{k: v for k, v in data.items() if k in names})


def save(pipe, session: SweepSession, ttl_seconds: int = RAW_SAMPLE_DAYS * 86400) -> None:
    key = keys.sweep_session(session.org_id, session.id)
    pipe.hset(key, mapping=session.to_redis())
    pipe.expire(key, ttl_seconds)


def start(client: redis.Redis, session: SweepSession) -> None:
    pipe = client.pipeline(transaction=False)
    save(pipe, session)
    pipe.set(keys.sweep_current(session.org_id), session.id)
    pipe.zadd(keys.sweep_history(session.org_id), {session.id: session.started_at})
    pipe.execute()


def load(client: redis.Redis, org_id: str, sweep_id: str) -> SweepSession | None:
    h = client.hgetall(keys.sweep_session(org_id, sweep_id))
    return SweepSession.from_redis(h) if h else None


def current(client: redis.Redis, org_id: str) -> SweepSession | None:
    sweep_id = client.get(keys.sweep_current(org_id))
    return load(client, org_id, sweep_id.decode()) if sweep_id else None


def end(
    client: redis.Redis,
    session: SweepSession,
    status: str,
    error: str = "",
    at: float | None = None,
) -> None:
    session.status, session.error = status, error
    session.updated_at = time.time() if at is None else at
    if status in (FINISHED, ABANDONED):
        session.finished_at = session.updated_at
    pipe = client.pipeline(transaction=False)
    save(pipe, session)
    if status in (FINISHED, ABANDONED):
        pipe.delete(keys.sweep_current(session.org_id))
    pipe.execute()


def recent(client: redis.Redis, org_id: str, n: int = 10) -> list[SweepSession]:
    ids = [i.decode() for i in client.zrevrange(keys.sweep_history(org_id), 0, n - 1)]
    pipe = client.pipeline(transaction=False)
    for i in ids:
        pipe.hgetall(keys.sweep_session(org_id, i))
    return [SweepSession.from_redis(h) for h in pipe.execute() if h]


def sweep_running(client: redis.Redis, org_id: str) -> str | None:
    """Why a new sweep of the org would only wait for the lock, or None: a sweep holds the
    org's lock, or a batch of sweeps (the demo's replay) holds all sweeps."""
    if client.exists(keys.sweeps_held()):
        return "a replay of the simulated history is sweeping"
    if client.exists(keys.sweep_lock(org_id)):
        return f"a sweep of org {org_id} is running"
    return None


def hold_sweeps(client: redis.Redis, seconds: float) -> None:
    """Mark a batch of sweeps as running for the next `seconds` (renew it while it runs)."""
    client.set(keys.sweeps_held(), "1", px=int(seconds * 1000))


def release_sweeps(client: redis.Redis) -> None:
    client.delete(keys.sweeps_held())


def replayed_until(client: redis.Redis) -> int | None:
    """The last slot the demo's replay swept (None: it never ran)."""
    raw = client.get(keys.demo_replayed_until())
    return int(raw) if raw is not None and raw.isdigit() else None


def set_replayed_until(client: redis.Redis, slot: int) -> None:
    client.set(keys.demo_replayed_until(), int(slot))
