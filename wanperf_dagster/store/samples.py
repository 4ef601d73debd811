"""Swept samples in Redis: one hash per site-day, one field per (sample slot, circuit).

A repeated or resumed sweep writes the same fields again, so it overwrites instead of duplicating.
Values are compact JSON arrays in `contract.RAW_FIELDS` order.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import redis

from wanperf_dagster.contract import FLOAT_FIELDS, INT_FIELDS, RAW_FIELDS, SNAPSHOT_COLUMNS

from . import keys
from .bulk import PIPELINE_CHUNK

DAY_S = 86400


def day_of(epoch: float) -> str:
    return pd.Timestamp(int(epoch // DAY_S) * DAY_S, unit="s").strftime("%Y-%m-%d")


def queue_samples(
    pipe: redis.client.Pipeline,
    slot: int,
    samples: Iterable,  # objects with site_id, circuit_id, values
    ttl_seconds: int | None,
) -> dict[str, int]:
    """Queue HSETs of the samples of one slot; returns {site_id: samples} for the cache-age index."""
    by_key: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
    per_site: dict[str, int] = defaultdict(int)
    day = day_of(slot)
    for s in samples:
        by_key[(day, s.site_id)][f"{slot}|{s.circuit_id}"] = json.dumps(
            s.values, separators=(",", ":")
        )
        per_site[s.site_id] += 1
    for (d, site), mapping in by_key.items():
        key = keys.raw_samples(d, site)
        pipe.hset(key, mapping=mapping)
        if ttl_seconds:
            pipe.expire(key, ttl_seconds)
        pipe.sadd(keys.raw_days(site), d)
        if ttl_seconds:
            pipe.expire(keys.raw_days(site), ttl_seconds)
    return dict(per_site)


def read_site_days(client: redis.Redis, site_days: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """All stored samples of the given (day, site) pairs as one frame (`site_snapshots` schema),
    in pipelined round trips."""
    raws: list = []
    for start in range(0, len(site_days), PIPELINE_CHUNK):
        pipe = client.pipeline(transaction=False)
        for day, site in site_days[start : start + PIPELINE_CHUNK]:
            pipe.hgetall(keys.raw_samples(day, site))
        raws.extend(pipe.execute())
    site_col, rows = [], []
    for (_, site), h in zip(site_days, raws, strict=True):
        for value in h.values():
            rows.append(json.loads(value))
            site_col.append(site)
    return samples_frame(site_col, rows)


def samples_frame(site_ids: list[str], rows: list[list]) -> pd.DataFrame:
    """Rows of raw values (in `RAW_FIELDS` order) → the `site_snapshots` frame
    (`SNAPSHOT_COLUMNS`), typed and sorted by (ts, circuit_id)."""
    frame = (
        pd.DataFrame(rows, columns=list(RAW_FIELDS))
        if rows
        else pd.DataFrame({f: [] for f in RAW_FIELDS})
    )
    ts_ms = (frame["ts"].astype(np.float64) * 1000).round().astype(np.int64)
    frame["ts"] = pd.to_datetime(ts_ms, unit="ms", utc=True)
    frame.insert(1, "site_id", pd.Series(site_ids, dtype="str"))
    # contract.circuit_id, vectorised
    frame.insert(2, "circuit_id", frame["mac"].astype("str") + ":" + frame["port_id"].astype("str"))
    frame["up"] = frame["up"].astype("boolean")
    for c in ("mac", "port_id"):
        frame[c] = frame[c].astype("str")
    for c in INT_FIELDS:
        frame[c] = pd.array(frame[c].tolist(), dtype="Int64")
    for c in FLOAT_FIELDS:
        frame[c] = pd.to_numeric(frame[c], errors="coerce").astype("float64")
    frame = frame[list(SNAPSHOT_COLUMNS)]
    return frame.sort_values(["ts", "circuit_id"], kind="stable").reset_index(drop=True)
