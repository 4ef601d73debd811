"""The sweep: the org-wide gateway port search, saved page by page, resumable, one at a time.

Each page's samples, the cache-age index, the quarantine and the session (with the cursor of the
next page) go to Redis in one pipeline as soon as the page arrives. Samples are keyed by (day,
site, slot, circuit), so a repeated or resumed sweep overwrites instead of duplicating. After a
crash, the next sweep resumes from the saved cursor while it is fresh enough, else abandons the
old session (its saved pages stay valid) and starts again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis
from redis.exceptions import LockError

from wanperf_dagster.store import bulk, keys, sessions
from wanperf_dagster.store import samples as sample_store
from wanperf_dagster.store.sessions import SweepSession

from .client import MistClient, MistRequestError
from .records import normalise_page

log = logging.getLogger(__name__)


class SweepLockedError(RuntimeError):
    """Another sweep of the same org holds the lock."""


@dataclass
class SweepConfig:
    interval_seconds: int = 600
    page_limit: int = 1000
    raw_ttl_seconds: int = 31 * 86400
    quarantine_ttl_seconds: int = 14 * 86400
    lock_ttl_seconds: float = 120.0
    # a saved cursor older than this is not resumed (default: one poll interval)
    resume_max_age_seconds: float | None = None

    @property
    def resume_max_age(self) -> float:
        return (
            self.resume_max_age_seconds
            if self.resume_max_age_seconds is not None
            else self.interval_seconds
        )


@dataclass
class PageEvent:
    session: SweepSession
    records: int
    samples: int
    quarantined: int
    elapsed: float
    budget_left: int


def _slot(t: float, interval: int) -> int:
    return int(t // interval * interval)


def save_page(
    r: redis.Redis,
    session: SweepSession,
    body_results,
    fetched_at: float,
    config: SweepConfig,
    seen: set[str] | None = None,
):
    """Normalise one page and write it in one pipeline with the session; returns the PageResult."""
    ts = min(max(fetched_at, session.slot), session.slot + config.interval_seconds - 1)
    result = normalise_page(body_results, ts)
    if seen is not None:
        for s in result.samples:
            if s.circuit_id in seen:
                session.duplicates += 1
            seen.add(s.circuit_id)
    pipe = r.pipeline(transaction=False)
    per_site = sample_store.queue_samples(
        pipe, session.slot, result.samples, config.raw_ttl_seconds
    )
    bulk.touch_sites(pipe, session.org_id, dict.fromkeys(per_site, float(ts)))
    if result.quarantined:
        qkey = keys.quarantine(session.org_id, session.id)
        pipe.rpush(
            qkey,
            *[
                json.dumps({**q, "page": session.pages + 1}, default=str)
                for q in result.quarantined
            ],
        )
        pipe.expire(qkey, config.quarantine_ttl_seconds)
    session.pages += 1
    session.records += result.records
    session.samples += len(result.samples)
    session.quarantined += len(result.quarantined)
    session.lan_skipped += result.lan_skipped
    session.zero_speed += result.zero_speed
    session.updated_at = fetched_at
    sessions.save(pipe, session)
    pipe.execute()
    return result


def run_sweep(
    client: MistClient,
    r: redis.Redis,
    config: SweepConfig | None = None,
    on_page: Callable[[PageEvent], None] | None = None,
    now: Callable[[], float] | None = None,
) -> SweepSession:
    """One org-wide sweep (or the rest of an interrupted one). Returns the finished session."""
    config = config or SweepConfig()
    now = now or client.clock
    org_id = client.resolve_org_id()
    lock = r.lock(
        keys.sweep_lock(org_id), timeout=config.lock_ttl_seconds, blocking=False, thread_local=False
    )
    if not lock.acquire():
        raise SweepLockedError(
            f"another sweep of org {org_id} is running (its lock expires within {config.lock_ttl_seconds:.0f} s"
            " if that process died)"
        )
    started = time.monotonic()
    calls_before = client.calls
    session: SweepSession | None = None
    try:
        session = _resume_or_start(r, org_id, now(), config)
        seen: set[str] = set()  # circuits of this sweep so far, to count duplicates
        restarted = False
        while True:
            try:
                _page_loop(client, r, session, config, on_page, now, started, seen, lock)
                break
            except MistRequestError as exc:
                # a saved cursor the server no longer accepts: start the sweep again, once
                if exc.status == 400 and session.resumed and session.pages and not restarted:
                    log.warning("saved cursor rejected (%s); starting the sweep again", exc)
                    sessions.end(r, session, sessions.ABANDONED, f"cursor rejected: {exc}", now())
                    session = _new_session(r, org_id, now(), config)
                    restarted = True
                    continue
                raise
        session.calls += client.calls - calls_before
        sessions.end(r, session, sessions.FINISHED, at=now())
        return session
    except BaseException as exc:
        if session is not None and session.status == sessions.RUNNING:
            session.calls += client.calls - calls_before
            with contextlib.suppress(Exception):
                sessions.end(
                    r, session, sessions.INTERRUPTED, f"{type(exc).__name__}: {exc}", now()
                )
        raise
    finally:
        with contextlib.suppress(LockError, redis.RedisError):
            lock.release()


def _new_session(r: redis.Redis, org_id: str, t: float, config: SweepConfig) -> SweepSession:
    session = SweepSession(
        org_id=org_id, slot=_slot(t, config.interval_seconds), started_at=t, updated_at=t
    )
    sessions.start(r, session)
    return session


def _resume_or_start(r: redis.Redis, org_id: str, t: float, config: SweepConfig) -> SweepSession:
    old = sessions.current(r, org_id)
    if old is not None and old.status in (sessions.RUNNING, sessions.INTERRUPTED) and old.cursor:
        if t - old.updated_at <= config.resume_max_age:
            old.status, old.resumed = sessions.RUNNING, old.resumed + 1
            old.updated_at = t
            sessions.start(r, old)
            log.info("resuming sweep %s at page %d", old.id, old.pages + 1)
            return old
        sessions.end(
            r, old, sessions.ABANDONED, f"cursor too old to resume ({t - old.updated_at:.0f} s)", t
        )
    elif old is not None and old.status in (sessions.RUNNING, sessions.INTERRUPTED):
        sessions.end(r, old, sessions.ABANDONED, "interrupted before its first page", t)
    return _new_session(r, org_id, t, config)


def _page_loop(client, r, session, config, on_page, now, started, seen, lock) -> None:
    path = f"/api/v1/orgs/{session.org_id}/stats/ports/search"
    params = {"device_type": "gateway", "limit": config.page_limit}
    for body, nxt in client.iter_search(path, params, start_url=session.cursor or None):
        session.cursor = nxt or ""
        result = save_page(r, session, body["results"], now(), config, seen)
        with contextlib.suppress(LockError):
            lock.extend(config.lock_ttl_seconds, replace_ttl=True)
        if on_page is not None:
            on_page(
                PageEvent(
                    session=session,
                    records=result.records,
                    samples=len(result.samples),
                    quarantined=len(result.quarantined),
                    elapsed=time.monotonic() - started,
                    budget_left=client.budget_left(),
                )
            )


@dataclass
class RefreshResult:
    sites: list[str]
    samples: int
    quarantined: int
    skipped_for_budget: int


def refresh_stale_sites(
    client: MistClient,
    r: redis.Redis,
    older_than_seconds: float,
    config: SweepConfig | None = None,
    max_sites: int | None = None,
    budget_reserve: int = 100,
    now: Callable[[], float] | None = None,
) -> RefreshResult:
    """Re-fetch sites whose newest sample is older than the threshold, oldest first, through the
    per-site endpoint, while the budget stays above `budget_reserve` calls."""
    config = config or SweepConfig()
    now = now or client.clock
    org_id = client.resolve_org_id()
    stale = bulk.stale_sites(r, org_id, older_than_seconds, now=now())
    if max_sites is not None:
        stale = stale[:max_sites]
    done, n_samples, n_quarantined = [], 0, 0
    for k, site in enumerate(stale):
        if client.budget_left() <= budget_reserve:
            return RefreshResult(done, n_samples, n_quarantined, len(stale) - k)
        t = now()
        session = SweepSession(
            org_id=org_id,
            slot=_slot(t, config.interval_seconds),
            id=f"refresh-{site}",
            started_at=t,
            updated_at=t,
        )
        path = f"/api/v1/sites/{site}/stats/ports/search"
        for body, _nxt in client.iter_search(
            path, {"device_type": "gateway", "limit": config.page_limit}
        ):
            result = save_page(r, session, body["results"], now(), config)
            n_samples += len(result.samples)
            n_quarantined += len(result.quarantined)
        done.append(site)
    return RefreshResult(done, n_samples, n_quarantined, 0)
