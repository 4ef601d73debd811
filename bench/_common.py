"""Shared helpers for the benchmarks: a Redis to measure against, timing, RSS."""

from __future__ import annotations

import contextlib
import os
import resource
import tempfile
import time
from collections.abc import Iterator

from wanperf_dagster.store import EmbeddedRedis, connect


@contextlib.contextmanager
def bench_redis() -> Iterator[tuple[str, EmbeddedRedis | None]]:
    """WANPERF_BENCH_REDIS_URL if set (its database is flushed), else a fresh embedded Valkey."""
    url = os.environ.get("WANPERF_BENCH_REDIS_URL")
    if url:
        connect(url).flushdb()
        yield url, None
        return
    with tempfile.TemporaryDirectory(prefix="wanperf-bench-") as tmp:
        server = EmbeddedRedis(tmp).ensure_running()
        try:
            yield server.url, server
        finally:
            server.stop()


def best_of(fn, repeat: int = 3) -> float:
    """Best wall time of `repeat` calls: the least disturbed by a shared, noisy machine."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def row(label: str, *cols) -> None:
    print(f"  {label:<52}" + "".join(f"{c:>14}" for c in cols))
