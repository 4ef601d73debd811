"""Storage: pipelined vs per-key Redis I/O, and the IO manager's partitioned writes and loads.

Run: `make bench` or `.venv/bin/python -m bench storage`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import pyarrow as pa

from wanperf_dagster import store
from wanperf_dagster.store import keys
from wanperf_dagster.store.partitioning import split_by_partition

from ._common import bench_redis, best_of, peak_rss_mib, row

N_KEYS = 2000


def raw_redis(client, url: str) -> None:
    print(f"\n== raw Redis from Python, {N_KEYS} keys ==")
    row("", "per-key s", "pipeline s", "ratio", "MGET/MSET s", "ratio")
    for size in (30_000, 1_000):
        _raw_redis_size(client, url, size)


def _raw_redis_size(client, url: str, size: int) -> None:
    payload = os.urandom(size)
    names = [f"wanperf:bench:{size}:{i}" for i in range(N_KEYS)]

    def per_key_set():
        for n in names:
            client.set(n, payload)

    def pipe_set():
        store.put_blobs(client, dict.fromkeys(names, payload), None)

    def mset():
        for i in range(0, N_KEYS, 500):
            client.mset(dict.fromkeys(names[i : i + 500], payload))

    def per_key_get():
        for n in names:
            client.get(n)

    def pipe_get():
        store.get_blobs(client, names)

    def mget():
        for i in range(0, N_KEYS, 500):
            client.mget(names[i : i + 500])

    ws, wp, wm = best_of(per_key_set), best_of(pipe_set), best_of(mset)
    rs, rp, rm = best_of(per_key_get), best_of(pipe_get), best_of(mget)
    row(
        f"write {size // 1000 or size} {'KB' if size >= 1000 else 'B'} values",
        f"{ws:.3f}",
        f"{wp:.3f}",
        f"{ws / wp:.1f}x",
        f"{wm:.3f}",
        f"{ws / wm:.1f}x",
    )
    row(
        f"read  {size // 1000 or size} {'KB' if size >= 1000 else 'B'} values",
        f"{rs:.3f}",
        f"{rp:.3f}",
        f"{rs / rp:.1f}x",
        f"{rm:.3f}",
        f"{rs / rm:.1f}x",
    )
    client.delete(*names)
    redis_benchmark(url, size)


def redis_benchmark(url: str, size: int) -> None:
    exe = shutil.which("redis-benchmark")
    if not exe:
        print("  (redis-benchmark not installed: apt-get install redis-tools for the C reference)")
        return
    parts = urlsplit(url)
    cmd = [
        exe,
        "-h",
        parts.hostname or "127.0.0.1",
        "-p",
        str(parts.port or 6379),
        "-q",
        "-t",
        "set,get",
        "-n",
        str(N_KEYS * 5),
        "-d",
        str(size),
        "-P",
        "64",
        "-c",
        "1",
        "--dbnum",
        parts.path.strip("/") or "0",
    ]
    if parts.password:
        cmd += ["-a", parts.password]  # redis-benchmark 7 has no --no-auth-warning
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    for line in out.splitlines():
        m = re.search(r"(SET|GET): ([\d.]+) requests per second", line.split("\r")[-1])
        if m:
            row(
                f"redis-benchmark -P 64 -c 1 {m.group(1)} {size} B",
                f"{N_KEYS / float(m.group(2)):.3f} s/{N_KEYS}",
            )


def site_day_frame(n_partitions: int, circuits: int = 2, samples: int = 144) -> pd.DataFrame:
    """Realistic snapshot rows: repeated ids, monotone counters, diurnal rates, some nulls."""
    rng = np.random.default_rng(7)
    n = n_partitions * circuits * samples
    part = np.repeat(np.arange(n_partitions), circuits * samples)
    circ = np.tile(np.repeat(np.arange(circuits), samples), n_partitions)
    slot = np.tile(np.arange(samples), n_partitions * circuits)
    site_ids = np.array([f"{i:08x}-7e1a-4c8e-9d61-{i:012x}" for i in range(n_partitions)])
    macs = np.array([f"5c5b35{i:06x}" for i in range(n_partitions)])
    speed = np.where(circ == 0, 1000, 100)
    diurnal = 0.35 + 0.3 * np.sin((slot - 36) / samples * 2 * np.pi)
    rx_bps = (speed * 1e6 * np.clip(diurnal + rng.normal(0, 0.05, n), 0, 1)).astype(np.int64)
    tx_bps = (rx_bps * 0.3).astype(np.int64)
    rx_bytes = np.cumsum(rx_bps * 75).astype(np.int64)
    ts = pd.Timestamp("2026-11-26", tz="UTC") + pd.to_timedelta(slot * 10, unit="min")
    return pd.DataFrame(
        {
            "ts": ts,
            "site_id": site_ids[part],
            "circuit_id": [f"{m}:ge-0/0/{c}" for m, c in zip(macs[part], circ, strict=True)],
            "mac": macs[part],
            "port_id": [f"ge-0/0/{c}" for c in circ],
            "up": rng.random(n) > 0.01,
            "speed_mbps": speed.astype(np.int64),
            "rx_bps": rx_bps,
            "tx_bps": tx_bps,
            "rx_bytes": rx_bytes,
            "tx_bytes": (rx_bytes * 0.3).astype(np.int64),
            "rx_pkts": rx_bytes // 900,
            "tx_pkts": rx_bytes // 2700,
            "rx_errors": rng.poisson(0.2, n).cumsum(),
            "tx_errors": rng.poisson(0.1, n).cumsum(),
            "jitter_ms": np.round(rng.gamma(2, 1.5, n), 1),
            "latency_ms": np.round(20 + rng.gamma(2, 3, n), 1),
            "loss_pct": np.round(np.where(rng.random(n) < 0.9, 0, rng.random(n)), 2),
            "last_flapped": pd.Series(1764000000.0, index=range(n)),
        }
    )


def io_manager_path(client) -> None:
    print(f"\n== IO manager path: {N_KEYS} site-day partitions (2 circuits x 144 samples each) ==")
    frame = site_day_frame(N_KEYS)
    part_keys = [f"2026-11-26|{s}" for s in frame["site_id"].unique()]
    path = ["bench_snapshots"]

    def vectorised():
        table = pa.Table.from_pandas(frame, preserve_index=False)
        slices = split_by_partition(table, ["ts", "site_id"], expected=part_keys)
        store.put_tables(client, path, slices, None)

    def naive():
        for site, sub in frame.groupby("site_id", sort=False):
            t = pa.Table.from_pandas(sub, preserve_index=False)
            client.set(keys.asset_value(path, f"2026-11-26|{site}"), store.encode_table(t))

    def load():
        tables, missing = store.get_tables(client, path, part_keys)
        assert not missing
        store.concat_partitions(tables).to_pandas()

    def load_naive():
        frames = [
            store.decode_table(client.get(keys.asset_value(path, k))).to_pandas() for k in part_keys
        ]
        pd.concat(frames, ignore_index=True)

    tv, tn = best_of(vectorised), best_of(naive, repeat=1)
    tl, tln = best_of(load), best_of(load_naive, repeat=1)
    row("", "vectorised s", "naive s", "ratio")
    row("write (one frame -> 2,000 keys)", f"{tv:.3f}", f"{tn:.3f}", f"{tn / tv:.1f}x")
    row("load (2,000 keys -> one frame)", f"{tl:.3f}", f"{tln:.3f}", f"{tln / tl:.1f}x")
    row("rows", f"{len(frame):,}")
    row("peak RSS of this process (MiB)", f"{peak_rss_mib():.0f}")

    print("\n== Redis memory per site-day partition (288 rows) ==")
    row("", "bytes/part", "per circuit-day")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    slices = split_by_partition(table, ["ts", "site_id"], expected=part_keys)
    for compression in ("zstd", "lz4", None):
        client.flushdb()
        before = client.info("memory")["used_memory"]
        store.put_tables(client, path, slices, None, compression=compression)
        after = client.info("memory")["used_memory"]
        per = (after - before) / len(part_keys)
        row(f"compression={compression}", f"{per:,.0f}", f"{per / 2:,.0f}")


def cluster_vs_single(single) -> None:
    """The IO manager's bulk path on one server and on a Valkey cluster of three primaries (all
    on this machine: the cluster pays for more round trips, one pipeline per node, and gains no
    cores here; on separate machines it gains their memory and CPU)."""
    import tempfile
    from pathlib import Path

    from harness.valkey_cluster import valkey_cluster

    print(f"\n== one server vs a cluster of 3 primaries: {N_KEYS} site-day partitions ==")
    frame = site_day_frame(N_KEYS)
    part_keys = [f"2026-11-26|{s}" for s in frame["site_id"].unique()]
    table = pa.Table.from_pandas(frame, preserve_index=False)
    path = ["bench_cluster"]

    def measure(client) -> tuple[float, float]:
        def write():
            slices = split_by_partition(table, ["ts", "site_id"], expected=part_keys)
            store.put_tables(client, path, slices, None)

        def load():
            tables, missing = store.get_tables(client, path, part_keys)
            assert not missing
            store.concat_partitions(tables)

        return best_of(write), best_of(load)

    one = measure(single)
    with (
        tempfile.TemporaryDirectory(prefix="wanperf-bench-cluster-") as tmp,
        valkey_cluster(Path(tmp)) as url,
    ):
        cluster = store.connect(url)
        many = measure(cluster)
        per_node = [n.redis_connection.dbsize() for n in cluster.get_primaries()]
    row("", "one server s", "cluster s", "cluster/one")
    row(
        "write (one frame -> 2,000 keys)",
        f"{one[0]:.3f}",
        f"{many[0]:.3f}",
        f"{many[0] / one[0]:.2f}",
    )
    row(
        "load (2,000 keys -> one frame)",
        f"{one[1]:.3f}",
        f"{many[1]:.3f}",
        f"{many[1] / one[1]:.2f}",
    )
    row(f"keys per primary ({len(per_node)})", ", ".join(f"{k:,}" for k in per_node))


def insight_feed_read(client, sites: int = 500, paths: int = 3) -> None:
    """A chunk's VPN path samples (500 site-days, 3 paths, 144 slots) read in batches of
    `READ_BATCH` site-days against all at once: Python's peak allocation of each (tracemalloc),
    side by side."""
    import time
    import tracemalloc

    from wanperf_dagster.store import insights as feed_store

    day0 = 1_764_115_200
    site_ids = [f"{i:08x}-7e1a-4c8e-9d61-{i:012x}" for i in range(sites)]
    for start in range(0, sites, 50):
        pipe = client.pipeline(transaction=False)
        for i in range(start, min(start + 50, sites)):
            mac = f"5c5b35{i:06x}"
            feed_store.queue_rows(
                pipe,
                "paths",
                [
                    {
                        "ts": day0 + k * 600,
                        "site_id": site_ids[i],
                        "path_id": f"{mac}:ge-0/0/{p}>5c5b35ffffff:ge-0/0/0",
                        "circuit_id": f"{mac}:ge-0/0/{p}",
                        "mac": mac,
                        "port_id": f"ge-0/0/{p}",
                        "peer_mac": "5c5b35ffffff",
                        "peer_port_id": "ge-0/0/0",
                        "peer_site_id": site_ids[0],
                        "type": "ipsec",
                        "up": True,
                        "latency_ms": 12.3,
                        "jitter_ms": 1.2,
                        "loss_pct": 0.01,
                        "mos": 4.38,
                    }
                    for p in range(paths)
                    for k in range(144)
                ],
                None,
            )
        pipe.execute()
    pairs = [("2025-11-26", s) for s in site_ids]

    def measured(batch: int) -> tuple[float, float, int]:
        saved, feed_store.READ_BATCH = feed_store.READ_BATCH, batch
        try:
            tracemalloc.start()
            t0 = time.perf_counter()
            frame = feed_store.read_site_days(client, "paths", pairs)
            elapsed = time.perf_counter() - t0
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        finally:
            feed_store.READ_BATCH = saved
        return elapsed, peak / 2**20, len(frame)

    t_batch, m_batch, n = measured(feed_store.READ_BATCH)
    t_once, m_once, _ = measured(sites)
    print(f"\n== insight feed read: {sites} site-days of VPN path samples ({n:,} rows) ==")
    row("", "batched", "at once", "ratio")
    row(
        "peak Python allocation (MiB)",
        f"{m_batch:.0f}",
        f"{m_once:.0f}",
        f"{m_once / m_batch:.1f}x",
    )
    row("seconds (slowed by tracemalloc)", f"{t_batch:.2f}", f"{t_once:.2f}")

    # the stored JSON: one parse per site-day (the values joined as an array) against one parse
    # per value, the read otherwise the same; median of 3 each, interleaved
    import statistics

    from wanperf_dagster.store.codec import decode_each_json_value as one_by_one

    joined_s, per_value_s = [], []
    bulk = feed_store.decode_json_values
    for _ in range(3):
        for decode, times in ((bulk, joined_s), (one_by_one, per_value_s)):
            feed_store.decode_json_values = decode
            try:
                t0 = time.perf_counter()
                feed_store.read_site_days(client, "paths", pairs)
                times.append(time.perf_counter() - t0)
            finally:
                feed_store.decode_json_values = bulk
    joined, per_value = statistics.median(joined_s), statistics.median(per_value_s)
    row("", "joined", "per value", "ratio")
    row(
        "read s (median of 3)",
        f"{joined:.2f}",
        f"{per_value:.2f}",
        f"{per_value / joined:.1f}x",
    )


def raw_samples_read(client, sites: int = 200) -> None:
    """A day of swept samples read back (the backfill's chunks and `wan_status_now` read this
    way), as it is read and with each of its two speed-ups undone: the number columns built by
    pandas from the parsed lists, and Python's cycle collector left on; median of 3 each,
    interleaved."""
    import contextlib
    import statistics
    import time

    from wanperf_dagster.simulator import World, build_org
    from wanperf_dagster.simulator.samples import world_samples
    from wanperf_dagster.store import samples as sample_store

    from ._common import store_samples

    world = World(build_org(seed=1, n_sites=sites))
    frame = world_samples(world, 1764115200, 144)  # 2025-11-26
    frame["ts"] = (frame["ts"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta("1s")
    store_samples(client, frame)
    pairs = [("2025-11-26", s.id) for s in world.org.sites]
    typed, paused = sample_store._typed_columns, sample_store.no_cycle_collection
    variants = {  # (the number columns' builder, the cycle collector's pause)
        "as read": (typed, paused),
        "pandas columns": (lambda columns, n: {}, paused),
        "collector on": (typed, contextlib.nullcontext),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(3):
        for name, (columns, pause) in variants.items():
            sample_store._typed_columns, sample_store.no_cycle_collection = columns, pause
            try:
                t0 = time.perf_counter()
                read = sample_store.read_site_days(client, pairs)
                times[name].append(time.perf_counter() - t0)
            finally:
                sample_store._typed_columns, sample_store.no_cycle_collection = typed, paused
    median = {name: statistics.median(t) for name, t in times.items()}
    print(f"\n== raw samples read: {sites} site-days ({len(read):,} samples, JSON hashes) ==")
    row("read s (median of 3)", "seconds", "against as read")
    for name, seconds in median.items():
        row(name, f"{seconds:.2f}", f"{seconds / median['as read']:.1f}x")


_LOAD_PEAK = """
import sys, time
from wanperf_dagster import storage
from wanperf_dagster.storage import api as storage_api
from wanperf_dagster.store import connect
storage_api.LOAD_BATCH = int(sys.argv[3])
keys = [storage.site_day_key("2026-11-26", f"SITE-{i:05d}_{i:08x}") for i in range(int(sys.argv[2]))]
t0 = time.perf_counter()
loaded = storage.AssetStore(connect(sys.argv[1])).load("circuit_kpis", keys)
elapsed = time.perf_counter() - t0
hwm = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) // 1024
print(loaded.table.num_rows, round(elapsed, 2), hwm)
"""


def many_partitions_load(client, url: str, sites: int = 10_000) -> None:
    """A day of circuit_kpis over 10,000 site partitions through `AssetStore.load` (what a day
    rollup's input is): `LOAD_BATCH` partitions at a time against all at once, each in a fresh
    process, its peak RSS side by side."""
    import sys

    from wanperf_dagster import kpi
    from wanperf_dagster.storage import LOAD_BATCH, site_day_key

    _, daily = kpi.circuit_kpis(site_day_frame(1), 10)
    blob = store.encode_table(pa.Table.from_pandas(daily, preserve_index=False))
    for start in range(0, sites, 1000):
        pipe = client.pipeline(transaction=False)
        for i in range(start, min(start + 1000, sites)):
            key = site_day_key("2026-11-26", f"SITE-{i:05d}_{i:08x}")
            pipe.set(store.keys.asset_value(["circuit_kpis"], key), blob)
        pipe.execute()

    def measured(batch: int) -> tuple[int, float, int]:
        out = subprocess.run(
            [sys.executable, "-c", _LOAD_PEAK, url, str(sites), str(batch)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        return int(out[0]), float(out[1]), int(out[2])

    rows, t_batch, m_batch = measured(LOAD_BATCH)
    _, t_once, m_once = measured(sites)
    print(f"\n== a day of circuit_kpis over {sites:,} site partitions ({rows:,} rows) ==")
    row("", f"{LOAD_BATCH} at a time", "all at once", "ratio")
    row(
        "peak RSS of the loading process (MiB)",
        f"{m_batch}",
        f"{m_once}",
        f"{m_once / m_batch:.1f}x",
    )
    row("seconds", f"{t_batch:.2f}", f"{t_once:.2f}")


def main() -> None:
    with bench_redis() as (url, _server):
        client = store.connect(url)
        print(f"server: {store.server_info(client)}")
        raw_redis(client, url)
        io_manager_path(client)
        client.flushdb()
        insight_feed_read(client)
        client.flushdb()
        raw_samples_read(client)
        client.flushdb()
        many_partitions_load(client, url)
        client.flushdb()
        cluster_vs_single(client)
        client.flushdb()


if __name__ == "__main__":
    main()
