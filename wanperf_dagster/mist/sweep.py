"""The sweep: the org-wide gateway port search, saved page by page, resumable, one at a time.

Each page's samples, the cache-age index, the quarantine and the session (with the cursor of the
next page) go to Redis in one pipeline as soon as the page arrives. Samples are keyed by (day,
site, slot, circuit), so a repeated or resumed sweep overwrites instead of duplicating. After a
crash, the next sweep resumes from the saved cursor while its sample slot has not passed (samples
are only ever written into the slot they were fetched in); once it has, the old session is
abandoned (its saved pages stay valid) and the sweep starts again in the new slot. A sweep holds
the org's lock; if it loses it (a page held past the lock's lifetime), it stops before writing
anything more.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from wanperf_dagster import store
from wanperf_dagster.settings import RAW_SAMPLE_DAYS, Settings
from wanperf_dagster.store import bulk, sessions
from wanperf_dagster.store import samples as sample_store
from wanperf_dagster.store.locks import Heartbeat, LockLostError, sweep_lock
from wanperf_dagster.store.sessions import SweepSession

from .client import (
    MistBudgetExhausted,
    MistClient,
    MistError,
    MistNotFoundError,
    MistRequestError,
)
from .records import normalise_page

log = logging.getLogger(__name__)


class SweepLockedError(RuntimeError):
    """Another sweep of the same org holds the lock."""


class SweepLockLostError(RuntimeError):
    """The sweep's lock expired while it ran (another sweep may now own the org)."""


class SweepRunawayError(RuntimeError):
    """The API served more pages than the org's size allows: a pagination loop or a runaway."""


@dataclass
class SweepConfig:
    interval_seconds: int = Settings.poll_interval  # WANPERF_POLL_INTERVAL's default
    page_limit: int = 1000
    raw_ttl_seconds: int = RAW_SAMPLE_DAYS * 86400
    quarantine_ttl_seconds: int = 14 * 86400
    # the org's lock: renewed every third of this while the sweep runs (a thread), so a dead
    # sweep's lock lapses within it, also one restored by a restarted Redis
    lock_ttl_seconds: float = 30.0
    # the most pages a sweep fetches: ceil(total / page_limit) of its first page, with this
    # slack for ports added while it runs; without a readable total, `max_pages_without_total`
    page_slack: float = 0.1
    max_pages_without_total: int = 1000


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
    r: store.Redis,
    session: SweepSession,
    body_results,
    fetched_at: float,
    config: SweepConfig,
    seen: set[str] | None = None,
):
    """Normalise one page and write it, then the session that counts it; returns the PageResult.

    Two round trips, the samples first: on a Redis Cluster a pipeline's commands go to each node
    on its own, so a process killed while sending one could leave the session's cursor past a
    page whose samples a node never got. The session and the quarantine share the org's slot
    and go together after: a kill between the two leaves the cursor before the page, which the
    next sweep fetches and writes again (the same fields, overwritten)."""
    ts = min(max(fetched_at, session.slot), session.slot + config.interval_seconds - 1)
    result = normalise_page(body_results, ts)
    if seen is not None:
        for s in result.samples:
            if s.circuit_id in seen:
                session.duplicates += 1
            seen.add(s.circuit_id)
    with store.batch(r) as pipe:
        per_site = sample_store.queue_samples(
            pipe, session.slot, result.samples, config.raw_ttl_seconds
        )
        sample_store.queue_recent(
            pipe, session.org_id, session.slot, session.id, session.pages + 1, result.samples
        )
        bulk.touch_sites(pipe, session.org_id, dict.fromkeys(per_site, float(ts)))
    with store.batch(r) as pipe:
        bulk.queue_quarantine(
            pipe,
            session.org_id,
            session.id,
            [json.dumps({**q, "page": session.pages + 1}, default=str) for q in result.quarantined],
            config.quarantine_ttl_seconds,
        )
        session.pages += 1
        session.records += result.records
        session.samples += len(result.samples)
        session.quarantined += len(result.quarantined)
        session.lan_skipped += result.lan_skipped
        session.zero_speed += result.zero_speed
        session.updated_at = fetched_at
        sessions.save(pipe, session)
    return result


PAUSED = "paused after its first page: the MSP's other orgs are sized first"
FIRST_PAGES_AT_ONCE = 4  # orgs whose first page an MSP sweep fetches side by side


class _Paused(Exception):
    pass


def run_sweep(
    client: MistClient,
    r: store.Redis,
    config: SweepConfig | None = None,
    on_page: Callable[[PageEvent], None] | None = None,
    now: Callable[[], float] | None = None,
    first_page_only: bool = False,
) -> SweepSession:
    """One org-wide sweep (or the rest of an interrupted one). Returns the finished session;
    with `first_page_only`, one that stops after its first page if there are more (interrupted
    with the cursor saved, so the next call goes on from there in the same slot)."""
    config = config or SweepConfig()
    now = now or client.clock
    org_id = client.resolve_org_id()
    lock = sweep_lock(r, org_id, config.lock_ttl_seconds)
    if not lock.acquire():
        raise SweepLockedError(
            f"another sweep of org {org_id} is running (its lock expires within {config.lock_ttl_seconds:.0f} s"
            " if that process died)"
        )
    started = time.monotonic()
    calls_before = client.calls
    session: SweepSession | None = None
    heartbeat = Heartbeat(lock, config.lock_ttl_seconds).__enter__()
    try:
        session = _resume_or_start(r, org_id, now(), config)
        seen: set[str] = set()  # circuits of this sweep so far, to count duplicates
        restarted = False
        while True:
            try:
                _page_loop(
                    client, r, session, config, on_page, now, started, seen, lock, first_page_only
                )
                break
            except _Paused:
                session.calls += client.calls - calls_before
                sessions.end(r, session, sessions.INTERRUPTED, PAUSED, now())
                return session
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
        _compact_closed_days(r, org_id, now())
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
        heartbeat.__exit__()
        lock.release()


@dataclass
class OrgSweep:
    """One org's part of an MSP sweep: its session, or why it did not finish."""

    org_id: str
    org_name: str = ""
    session: SweepSession | None = None
    error: str | None = None


def sweep_orgs(
    clients: list[MistClient],
    r: store.Redis,
    config: SweepConfig | None = None,
    on_page: Callable[[PageEvent], None] | None = None,
) -> list[OrgSweep]:
    """Every org's sweep, max-min fair: first each org's first page (a small org is then done,
    and every other has said how many records it has), then the rest of each, the smallest
    first. When a token's hour runs short it is a large org's sweep that stops early (to resume
    from its cursor), never a small org that goes without. One org's failure (its token refused,
    its budget spent, its lock held) is reported and the others are swept."""
    orgs = [OrgSweep(c.resolve_org_id(), c.org_name) for c in clients]

    def step(org: OrgSweep, client: MistClient, first_page_only: bool) -> None:
        try:
            org.session = run_sweep(client, r, config, on_page, first_page_only=first_page_only)
        except (MistError, SweepLockedError, SweepRunawayError) as exc:
            log.warning("the sweep of org %s did not finish: %s", org.org_id, exc)
            org.error = f"{type(exc).__name__}: {exc}"

    # the first pages side by side (a few at a time: each org's pages are sequential, the
    # orgs are not); the rest in order, smallest first, so a short budget ends on a large org
    with ThreadPoolExecutor(max_workers=min(FIRST_PAGES_AT_ONCE, len(clients) or 1)) as pool:
        list(
            pool.map(
                lambda pair: step(*pair, first_page_only=True), zip(orgs, clients, strict=True)
            )
        )
    paused = [
        (org, client)
        for org, client in zip(orgs, clients, strict=True)
        if org.session is not None and org.session.status == sessions.INTERRUPTED
    ]
    for org, client in sorted(paused, key=lambda p: (p[0].session.total, p[0].org_id)):
        step(org, client, first_page_only=False)
    return orgs


def _compact_closed_days(r: store.Redis, org_id: str, t: float) -> None:
    """The first sweep of a day compacts the days before it (one value per site-day instead of a
    hash of every sample); a failure leaves the hashes, read as before, for the next day."""
    today = sample_store.day_of(t)
    try:
        if sample_store.compacted_through(r, org_id) >= today:  # done today: read nothing more
            return
        sites = [site for site, _ in bulk.sites_by_age(r, org_id)]
        done = sample_store.compact_closed_days(r, org_id, sites, today)
    except Exception as exc:  # the samples stay as they are; the sweep itself is done
        log.warning("compacting the closed days' samples failed: %s", exc)
        return
    if done.site_days:
        log.info(
            "compacted %d closed site-days (%d samples): %.1f MiB of values into %.1f MiB",
            done.site_days,
            done.samples,
            done.bytes_before / 2**20,
            done.bytes_after / 2**20,
        )


def _new_session(r: store.Redis, org_id: str, t: float, config: SweepConfig) -> SweepSession:
    session = SweepSession(
        org_id=org_id, slot=_slot(t, config.interval_seconds), started_at=t, updated_at=t
    )
    sessions.start(r, session)
    return session


def _resume_or_start(r: store.Redis, org_id: str, t: float, config: SweepConfig) -> SweepSession:
    old = sessions.current(r, org_id)
    if old is not None and old.status in (sessions.RUNNING, sessions.INTERRUPTED) and old.cursor:
        if _slot(t, config.interval_seconds) == old.slot:
            # a pause is part of the plan, not a resumption after a failure
            old.status, old.resumed = sessions.RUNNING, old.resumed + (old.error != PAUSED)
            old.error = ""
            old.updated_at = t
            sessions.start(r, old)
            log.info("resuming sweep %s at page %d", old.id, old.pages + 1)
            return old
        sessions.end(
            r,
            old,
            sessions.ABANDONED,
            f"its sample slot passed ({t - old.slot:.0f} s after it began); a new sweep fills"
            " the current slot",
            t,
        )
    elif old is not None and old.status in (sessions.RUNNING, sessions.INTERRUPTED):
        sessions.end(r, old, sessions.ABANDONED, "interrupted before its first page", t)
    return _new_session(r, org_id, t, config)


def _page_loop(
    client, r, session, config, on_page, now, started, seen, lock, first_page_only=False
) -> None:
    path = f"/api/v1/orgs/{session.org_id}/stats/ports/search"
    params = {"device_type": "gateway", "limit": config.page_limit}
    for body, nxt in client.iter_search(path, params, start_url=session.cursor or None):
        if session.pages == 0 or not session.max_pages:
            session.total, session.max_pages = _page_cap(body, config)
        if session.pages >= session.max_pages:
            raise SweepRunawayError(
                f"the API served more than {session.max_pages} pages for org {session.org_id}"
                f" ({session.records:,} records so far; its first page said"
                f" {session.total if session.total >= 0 else 'no'} total): a pagination loop?"
                " Stopping; the next sweep starts again"
            )
        try:  # before writing: a sweep that lost its lock writes nothing more
            lock.renew()
        except LockLostError as exc:
            raise SweepLockLostError(
                f"the sweep of org {session.org_id} lost its lock (held past"
                f" {config.lock_ttl_seconds:.0f} s, e.g. by a page that took that long); stopping"
                " without writing more: the sweep that holds it now finishes the slot"
            ) from exc
        session.cursor = nxt or ""
        result = save_page(r, session, body["results"], now(), config, seen)
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
        if first_page_only and nxt:
            raise _Paused  # before the next page is asked for: its cursor is saved


def _page_cap(body: dict, config: SweepConfig) -> tuple[int, int]:
    """(total, page cap) of a sweep from its first page's `total` (the org's port records)."""
    total = body.get("total")
    if isinstance(total, bool) or not isinstance(total, int) or not 0 <= total <= 10**8:
        return -1, config.max_pages_without_total
    return total, math.ceil(total * (1 + config.page_slack) / config.page_limit) + 2


@dataclass
class RefreshResult:
    sites: list[str]
    samples: int
    quarantined: int
    skipped_for_budget: int
    not_found: list[str] = field(default_factory=list)  # gone from the org (HTTP 404)


def refresh_stale_sites(
    client: MistClient,
    r: store.Redis,
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
    done, gone, n_samples, n_quarantined = [], [], 0, 0
    for k, site in enumerate(stale):
        if client.budget_left() <= budget_reserve:
            return RefreshResult(done, n_samples, n_quarantined, len(stale) - k, gone)
        t = now()
        session = SweepSession(
            org_id=org_id,
            slot=_slot(t, config.interval_seconds),
            id=f"refresh-{site}",
            started_at=t,
            updated_at=t,
        )
        path = f"/api/v1/sites/{site}/stats/ports/search"
        try:
            for body, _nxt in client.iter_search(
                path, {"device_type": "gateway", "limit": config.page_limit}
            ):
                result = save_page(r, session, body["results"], now(), config)
                n_samples += len(result.samples)
                n_quarantined += len(result.quarantined)
        except MistBudgetExhausted:
            # another process spent the shared budget since the check above: this site and
            # the rest wait for the next refresh (pages saved so far are kept; saving is
            # idempotent, so the next refresh adds nothing twice)
            log.warning("the Mist call budget ran out during the refresh, at site %s", site)
            return RefreshResult(done, n_samples, n_quarantined, len(stale) - k, gone)
        except MistNotFoundError:
            # decommissioned since its last sample: no longer stale, and the next inventory
            # retires it
            log.warning("site %s answers 404: skipped, and forgotten by the cache-age index", site)
            bulk.forget_sites(r, org_id, [site])
            gone.append(site)
            continue
        done.append(site)
    return RefreshResult(done, n_samples, n_quarantined, 0, gone)
