"""The circuits' hour-of-week baselines (`kpi.baselines`), kept by hour: an evaluation reads the
one hour it judges (one key), not the week's 168."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import pyarrow as pa
import redis

from . import keys
from .codec import decode_table, encode_table

HOURS_OF_WEEK = 168


def write_baselines(
    client: redis.Redis, org_id: str, frame: pd.DataFrame, built: dict[str, str], ttl: int
) -> int:
    """Replace the org's baselines with `frame` (a `how` column of 0-167), every hour in one
    pipeline (an hour no circuit has is stored empty, so an older one cannot outlive it);
    returns the bytes stored."""
    pipe = client.pipeline(transaction=False)
    size, written = 0, set()
    # one hour's rows at a time (a dict of all 168 was a second copy of the frame), sent a few
    # hours at a time; ids stored as strings, whatever the frame holds them as
    ids = [c for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)]
    for how, part in frame.groupby("how", sort=False, observed=True) if len(frame) else ():
        part = part.astype({c: "str" for c in ids})
        blob = encode_table(pa.Table.from_pandas(part, preserve_index=False))
        size += len(blob)
        pipe.set(keys.baseline(org_id, int(how)), blob, ex=ttl)
        written.add(int(how))
        if len(written) % 24 == 0:
            pipe.execute()
    empty = frame.iloc[0:0].astype({c: "str" for c in ids})
    empty = encode_table(pa.Table.from_pandas(empty, preserve_index=False))
    for how in sorted(set(range(HOURS_OF_WEEK)) - written):
        size += len(empty)
        pipe.set(keys.baseline(org_id, how), empty, ex=ttl)
    pipe.delete(keys.baseline_built(org_id))
    pipe.hset(keys.baseline_built(org_id), mapping=built)
    pipe.expire(keys.baseline_built(org_id), ttl)
    pipe.execute()
    return size


def read_baselines(
    client: redis.Redis, org_id: str, how: int, site_ids: Sequence[str] | None = None
) -> pd.DataFrame | None:
    """The org's baselines at one hour of the week (of the given sites), or None when none was
    ever learnt."""
    blob = client.get(keys.baseline(org_id, how))
    if blob is None:
        return None
    frame = decode_table(blob).to_pandas()
    if site_ids is not None:
        frame = frame[frame["site_id"].isin(set(site_ids))].reset_index(drop=True)
    return frame


def baselines_built(client: redis.Redis, org_id: str) -> dict[str, str]:
    raw = client.hgetall(keys.baseline_built(org_id))
    return {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
        for k, v in raw.items()
    }
