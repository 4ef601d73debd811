"""Short-lived Redis locks kept alive by their holder: a lock that lives `ttl` seconds and is
renewed every third of it by a thread while the work lasts. A holder that dies (a SIGKILL, a
host lost, a Redis restarted from its append-only file with the lock in it) lets it go within
`ttl`, not after the longest page or wait the work could ever take."""

from __future__ import annotations

import threading

import redis
from redis.exceptions import LockError


class Heartbeat:
    """Renews `lock` (a redis-py `Lock` already held) every `ttl / 3` seconds until stopped;
    `lost` says the lock was taken from it (then it stops renewing)."""

    def __init__(self, lock, ttl: float):
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
                self.lock.extend(self.ttl, replace_ttl=True)
            except LockError:  # not ours any more: whoever holds it now owns the work
                self._lost.set()
                return
            except redis.RedisError:  # Redis away: try again; the lock may lapse meanwhile
                continue
