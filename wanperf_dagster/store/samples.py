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
from .codec import decode_json_values

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


READ_BATCH = 50  # site-days parsed at a time: ~17k samples of a 2,000-site org's day


def read_site_days(client: redis.Redis, site_days: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """All stored samples of the given (day, site) pairs as one frame (`site_snapshots` schema),
    in pipelined round trips.

    Parsed `READ_BATCH` site-days at a time, each batch typed into columns before the next is
    read: the raw JSON and its Python rows of a whole 500 site-day chunk at once took the run
    worker up by 300 MiB (`bench backfill`)."""
    frames, unreadable = [], 0
    width = len(RAW_FIELDS)

    def is_sample(row) -> bool:
        return isinstance(row, list) and len(row) == width

    for start in range(0, len(site_days), READ_BATCH):
        batch = site_days[start : start + READ_BATCH]
        pipe = client.pipeline(transaction=False)
        for day, site in batch:
            pipe.hvals(keys.raw_samples(day, site))
        site_col, rows = [], []
        for (_, site), values in zip(batch, pipe.execute(), strict=True):
            parsed, bad = decode_json_values(values, is_sample)
            unreadable += bad
            rows += parsed
            site_col += [site] * len(parsed)
        if rows:
            frames.append(samples_frame(site_col, rows))
    if not frames:
        frame = samples_frame([], [])
    elif len(frames) == 1:
        frame = frames[0]
    else:
        invalid = sum(f.attrs[INVALID_VALUES] for f in frames)
        frame = pd.concat(frames, ignore_index=True)
        frame = frame.sort_values(["ts", "circuit_id"], kind="stable").reset_index(drop=True)
        frame.attrs[INVALID_VALUES] = invalid
    frame.attrs[INVALID_VALUES] += unreadable
    return frame


def samples_frame(site_ids: list[str], rows: list[list]) -> pd.DataFrame:
    """Rows of raw values (in `RAW_FIELDS` order) → the `site_snapshots` frame
    (`SNAPSHOT_COLUMNS`), typed and sorted by (ts, circuit_id).

    Columns are built from the raw values one by one, never through pandas' inference of a
    mixed column (a counter column with one null would go through float64 and lose every value
    above 2**53)."""
    if rows:
        columns = dict(zip(RAW_FIELDS, (list(c) for c in zip(*rows, strict=True)), strict=True))
    else:
        columns = {f: [] for f in RAW_FIELDS}
    invalid = 0
    ts_ms = (pd.Series(columns["ts"], dtype=np.float64) * 1000).round().astype(np.int64)
    frame = pd.DataFrame({"ts": pd.to_datetime(ts_ms, unit="ms", utc=True)})
    frame["site_id"] = pd.Series(site_ids, dtype="str")
    mac = pd.Series(columns["mac"], dtype="str")
    port = pd.Series(columns["port_id"], dtype="str")
    frame["circuit_id"] = mac + ":" + port  # contract.circuit_id, vectorised
    frame["mac"], frame["port_id"] = mac, port
    frame["up"] = pd.array(columns["up"], dtype="boolean")
    for c in INT_FIELDS:
        frame[c], dropped = _int64_column(columns[c])
        invalid += dropped
    for c in FLOAT_FIELDS:
        raw = pd.Series(columns[c], dtype=object)
        numbers = pd.to_numeric(raw, errors="coerce").astype("float64")
        invalid += int(numbers.isna().sum() - raw.isna().sum())
        frame[c] = numbers
    frame = frame[list(SNAPSHOT_COLUMNS)]
    frame = frame.sort_values(["ts", "circuit_id"], kind="stable").reset_index(drop=True)
    frame.attrs[INVALID_VALUES] = invalid
    return frame


INVALID_VALUES = "wanperf/invalid_values"
INT64_MAX = 2**63 - 1


def _int64_column(values: list) -> tuple[pd.arrays.IntegerArray, int]:
    """Exact int64 (counters pass 2**53); a value that cannot be one (stored before the
    normaliser checked it, or corrupted) becomes missing and is counted, never failing the read
    of every other row."""
    try:
        return pd.array(values, dtype="Int64"), 0
    except (OverflowError, TypeError, ValueError):
        clean = [
            v if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= INT64_MAX else None
            for v in values
        ]
        dropped = sum(1 for v, c in zip(values, clean, strict=True) if c is None and v is not None)
        return pd.array(clean, dtype="Int64"), dropped
