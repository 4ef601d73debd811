"""Pipelined bulk reads and writes: a step never does one round trip per key.

Only single-key commands go into the pipelines, so a Redis Cluster client can split them per node.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import redis

from . import keys
from .codec import DEFAULT_COMPRESSION, decode_table, encode_table

PIPELINE_CHUNK = 1000  # commands per round trip: bounds client and server buffers


def put_blobs(client: redis.Redis, blobs: Mapping[str, bytes], ttl_seconds: int | None) -> int:
    """SET every key (with its TTL) in pipelined round trips; returns the bytes written."""
    written = 0
    items = list(blobs.items())
    for start in range(0, len(items), PIPELINE_CHUNK):
        pipe = client.pipeline(transaction=False)
        for key, blob in items[start : start + PIPELINE_CHUNK]:
            pipe.set(key, blob, ex=ttl_seconds or None)
            written += len(blob)
        pipe.execute()
    return written


def get_blobs(client: redis.Redis, key_list: Sequence[str]) -> list[bytes | None]:
    """GET every key in pipelined round trips, in order; None for a missing key."""
    out: list[bytes | None] = []
    for start in range(0, len(key_list), PIPELINE_CHUNK):
        pipe = client.pipeline(transaction=False)
        for key in key_list[start : start + PIPELINE_CHUNK]:
            pipe.get(key)
        out.extend(pipe.execute())
    return out


# cache-age index ------------------------------------------------------------------------------
def touch_sites(pipe: redis.client.Pipeline, org_id: str, ages: Mapping[str, float]) -> None:
    """Queue the cache-age update of sites (epoch second of their newest sample).

    GT keeps the newest timestamp when an older page is replayed after a newer one (and, unlike
    XX, still adds sites seen for the first time).
    """
    if ages:
        pipe.zadd(keys.cache_age(org_id), dict(ages), gt=True)


def forget_sites(client: redis.Redis, org_id: str, site_ids: Sequence[str]) -> int:
    """Drop sites from the cache-age index (gone from the org); returns how many were there."""
    return int(client.zrem(keys.cache_age(org_id), *site_ids)) if site_ids else 0


def retire_sites_not_in(client: redis.Redis, org_id: str, current: Sequence[str]) -> list[str]:
    """Drop from the cache-age index every site not in the current inventory; returns them."""
    keep = set(current)
    gone = [s for s, _ in sites_by_age(client, org_id) if s not in keep]
    forget_sites(client, org_id, gone)
    return gone


def stale_sites(
    client: redis.Redis, org_id: str, older_than_seconds: float, now: float | None = None
) -> list[str]:
    """Sites whose newest sample is older than the threshold, oldest first (one round trip)."""
    now = time.time() if now is None else now
    raw = client.zrangebyscore(keys.cache_age(org_id), "-inf", f"({now - older_than_seconds}")
    return [s.decode() for s in raw]


def count_sites(client: redis.Redis, org_id: str) -> int:
    """How many sites the org's sweeps have stored samples of."""
    return int(client.zcard(keys.cache_age(org_id)))


def sites_by_age(client: redis.Redis, org_id: str) -> list[tuple[str, float]]:
    """Every known site with the epoch second of its newest sample, oldest first (one round trip)."""
    return [
        (s.decode(), score)
        for s, score in client.zrange(keys.cache_age(org_id), 0, -1, withscores=True)
    ]


# which partition key each site has ------------------------------------------------------------
def register_site_keys(client: redis.Redis, keys_by_site: Mapping[str, str]) -> None:
    """Record each site's partition key; the first one recorded stays."""
    if not keys_by_site:
        return
    pipe = client.pipeline(transaction=False)
    for site_id, key in keys_by_site.items():
        pipe.hsetnx(keys.site_keys(), site_id, key)
    pipe.execute()


def site_keys(client: redis.Redis, site_ids: Sequence[str]) -> list[str | None]:
    """Each site's recorded partition key (None where none was)."""
    if not site_ids:
        return []
    return [k.decode() if k else None for k in client.hmget(keys.site_keys(), list(site_ids))]


# rejected records ------------------------------------------------------------------------------
def queue_quarantine(
    pipe: redis.client.Pipeline, org_id: str, batch: str, records: Sequence[str], ttl: int
) -> None:
    """Queue rejected records (JSON each, with its reason) into the list of one sweep or feed
    ingestion (`batch`), kept `ttl` seconds."""
    if records:
        key = keys.quarantine(org_id, batch)
        pipe.rpush(key, *records)
        pipe.expire(key, ttl)


# Arrow tables per partition ---------------------------------------------------------------------
def put_tables(
    client: redis.Redis,
    asset_path: Sequence[str],
    tables: Mapping[str | None, pa.Table],
    ttl_seconds: int | None,
    compression: str | None = DEFAULT_COMPRESSION,
) -> int:
    """Store one Arrow table per partition key (None: unpartitioned); returns bytes written.

    Encoding runs on a thread pool: Arrow's compression releases the GIL.
    """
    names = [keys.asset_value(asset_path, key) for key in tables]
    if len(tables) >= 64:
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            encoded = list(
                pool.map(lambda t: encode_table(t, compression), tables.values(), chunksize=64)
            )
    else:
        encoded = [encode_table(t, compression) for t in tables.values()]
    return put_blobs(client, dict(zip(names, encoded, strict=True)), ttl_seconds)


def get_tables(
    client: redis.Redis, asset_path: Sequence[str], partition_keys: Sequence[str | None]
) -> tuple[list[pa.Table], list[str | None]]:
    """The stored tables of the given partitions, in order, and the keys that are missing."""
    blobs = get_blobs(client, [keys.asset_value(asset_path, k) for k in partition_keys])
    missing = [k for k, b in zip(partition_keys, blobs, strict=True) if b is None]
    present = [b for b in blobs if b is not None]
    if len(present) >= 64:
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            return list(pool.map(decode_table, present, chunksize=64)), missing
    return [decode_table(b) for b in present], missing
