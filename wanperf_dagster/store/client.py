"""Redis connections with pooling, socket timeouts and retry with backoff on connection errors.

redis-py picks up hiredis (a pinned dependency) for reply parsing by itself.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import redis
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.cluster import RedisCluster
from redis.exceptions import AuthenticationError, BusyLoadingError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

Redis = redis.Redis  # the client type the rest of the package passes around (never calls)
RedisError = redis.RedisError


class _Retry(Retry):
    """Retry connection errors with backoff, but not a wrong password (it would only be slow);
    wait for a server that is loading its data (a restarted Redis reads its append-only file: a
    few GiB take a minute and every command meanwhile answers LOADING) up to `loading_wait`
    seconds, however many retries that takes; and, where `restart_wait` is set, through any other
    connection error, as a restarting server refuses connections (the soak's restart was down 7
    to 10 s and failed the run writing at that moment after the five quick retries' 1.5 s)."""

    loading_wait = 300.0
    restart_wait = 0.0

    def call_with_retry(self, do, fail, is_retryable=None, with_failure_count=False):
        def retryable(error: Exception) -> bool:
            if isinstance(error, (AuthenticationError, BusyLoadingError)):
                return False
            return is_retryable(error) if is_retryable else True

        loading = restarting = None
        while True:
            try:
                return super().call_with_retry(do, fail, retryable, with_failure_count)
            except BusyLoadingError:
                loading = loading or time.monotonic() + self.loading_wait
                if time.monotonic() >= loading:
                    raise
            except AuthenticationError:
                raise
            except RedisConnectionError:
                restarting = restarting or time.monotonic() + self.restart_wait
                if time.monotonic() >= restarting:
                    raise
            time.sleep(0.25)


NO_RETRY = Retry(NoBackoff(), 0)


CLUSTER_SUFFIX = "+cluster"


def is_cluster_url(url: str) -> bool:
    return url.split("://", 1)[0].endswith(CLUSTER_SUFFIX)


def connect(
    url: str,
    *,
    socket_timeout: float = 10.0,
    connect_timeout: float = 5.0,
    retries: int = 5,
    max_connections: int = 32,
    health_check_interval: int = 30,
    restart_wait: float = 0.0,
) -> redis.Redis:
    """`restart_wait`: seconds to keep retrying connection errors (a restarting server refuses
    them) before the error, a wrong password never; 0 for a caller that should hear at once (the
    CLI, the dashboard)."""
    retry = _Retry(
        ExponentialWithJitterBackoff(base=0.05, cap=2.0),
        retries,
        supported_errors=(RedisConnectionError, RedisTimeoutError, ConnectionResetError),
    )
    retry.restart_wait = restart_wait
    options = {
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": connect_timeout,
        "socket_keepalive": True,
        "health_check_interval": health_check_interval,
        "max_connections": max_connections,
        "retry": retry,
    }
    if is_cluster_url(url):
        # redis-py's cluster client: slots discovered from the node, each pipeline split per
        # node, MOVED/ASK followed; no command here touches two keys (docs/storage.md)
        return RedisCluster.from_url(url.replace(CLUSTER_SUFFIX, "", 1), **options)
    pool = redis.ConnectionPool.from_url(url, **options)
    return redis.Redis(connection_pool=pool)


def server_info(client: redis.Redis) -> dict:
    """Name and version of the server, for health checks and metadata."""
    info = client.info("server")
    name = "valkey" if "valkey_version" in info else "redis"
    return {"server": name, "version": info.get("valkey_version") or info.get("redis_version")}


@contextlib.contextmanager
def batch(client: redis.Redis) -> Iterator[redis.client.Pipeline]:
    """A pipeline (no transaction) the caller queues writes into with this package's `queue_*`
    functions, sent in one round trip when the block ends without an error."""
    pipe = client.pipeline(transaction=False)
    yield pipe
    pipe.execute()
