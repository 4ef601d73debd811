"""Short-lived Redis locks kept alive by their holder: a lock that lives `ttl` seconds and is
renewed every third of it by a thread while the work lasts. A holder that dies (a SIGKILL, a
host lost, a Redis restarted from its append-only file with the lock in it) lets it go within
`ttl`, not after the longest page or wait the work could ever take."""

from __future__ import annotations

import contextlib
import threading

import redis
from redis.exceptions import LockError

from . import keys


class LockLostError(RuntimeError):
    """The lock lapsed or was taken by another holder: whoever holds it now owns the work."""


class OrgLock:
    """One org's lock on one kind of work (its sweep, its insight ingestion, its alerts)."""

    def __init__(self, client: redis.Redis, key: str, ttl: float, wait: float | None = None):
        self.ttl = ttl
        self._lock = client.lock(
            key,
            timeout=ttl,
            blocking=wait is not None,
            blocking_timeout=wait,
            thread_local=False,
        )

    def acquire(self) -> bool:
        """Take it (waiting up to `wait` seconds when one was given); False if another holds it."""
        return bool(self._lock.acquire())

    def renew(self) -> None:
        """Give it `ttl` seconds again; `LockLostError` when it is no longer ours."""
        try:
            self._lock.extend(self.ttl, replace_ttl=True)
        except LockError as exc:
            raise LockLostError(str(exc)) from exc

    def release(self) -> None:
        """Let it go; a lock that lapsed (or a Redis that is away) is not an error here."""
        with contextlib.suppress(LockError, redis.RedisError):
            self._lock.release()


def sweep_lock(client: redis.Redis, org_id: str, ttl: float) -> OrgLock:
    return OrgLock(client, keys.sweep_lock(org_id), ttl)


def insights_lock(client: redis.Redis, org_id: str, ttl: float) -> OrgLock:
    return OrgLock(client, keys.insights_lock(org_id), ttl)


def alerts_lock(client: redis.Redis, org_id: str, ttl: float, wait: float) -> OrgLock:
    return OrgLock(client, keys.alerts_lock(org_id), ttl, wait=wait)


def history_lock(client: redis.Redis, asset: str, day: str, ttl: float, wait: float):
    """The lock of one asset-day file of the history tier: a redis-py lock, the context manager
    the history's writer takes (it checks the lock is still held before it commits)."""
    return client.lock(keys.history_lock(asset, day), timeout=ttl, blocking_timeout=wait)


class Heartbeat:
    """Renews `lock` (an `OrgLock` already held) every `ttl / 3` seconds until stopped; `lost`
    says the lock was taken from it (then it stops renewing)."""

    def __init__(self, lock: OrgLock, ttl: float):
        self.lock, self.ttl = lock, ttl
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lock-heartbeat", daemon=True)

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=self.ttl)

    def _run(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                self.lock.renew()
            except LockLostError:  # not ours any more: whoever holds it now owns the work
                self._lost.set()
                return
            except redis.RedisError:  # Redis away: try again; the lock may lapse meanwhile
                continue
