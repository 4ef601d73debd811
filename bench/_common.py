"""Shared helpers for the benchmarks: a Redis to measure against, timing, RSS."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

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


SAMPLES_A_PAGE = 500  # about what a sweep page of 1,000 port records gives (its WAN ports)


def store_samples(client, frame, ttl: int | None = None, org_id: str | None = None) -> int:
    """Simulated samples (`world_samples`, `ts` as epoch seconds) into Redis as the sweep
    stores them, a slot at a time in one pipeline (with `org_id`, its recent window too, a
    page of `SAMPLES_A_PAGE` at a time); returns how many."""
    from wanperf_dagster.mist.records import Sample
    from wanperf_dagster.store import samples as sample_store

    fields = [c for c in frame.columns if c not in ("site_id", "circuit_id")]
    pipe = client.pipeline(transaction=False)
    written = 0
    for slot, rows in frame.groupby("ts"):
        samples = [
            Sample(site, circuit, [v.item() if hasattr(v, "item") else v for v in values])
            for site, circuit, *values in rows[["site_id", "circuit_id", *fields]].itertuples(
                index=False
            )
        ]
        sample_store.queue_samples(pipe, int(slot) // 600 * 600, samples, ttl)
        if org_id is not None:
            for page, first in enumerate(range(0, len(samples), SAMPLES_A_PAGE), 1):
                chunk = samples[first : first + SAMPLES_A_PAGE]
                slot_start = int(slot) // 600 * 600
                sample_store.queue_recent(pipe, org_id, slot_start, "bench", page, chunk)
        written += len(samples)
    pipe.execute()
    return written


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


def child_report(module: str, env: dict, *args: str, timeout: float) -> dict:
    """Runs `python -m bench.<module> ARGS` in a process of its own (its own settings and
    memory) and returns the JSON of its last `REPORT ` line."""
    out = subprocess.run(
        [sys.executable, "-m", f"bench.{module}", *args],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        timeout=timeout,
    )
    lines = [x for x in out.stdout.splitlines() if x.startswith("REPORT ")]
    if out.returncode or not lines:
        raise SystemExit(f"{module} benchmark step {args} failed (exit {out.returncode})")
    return json.loads(lines[-1][len("REPORT ") :])
