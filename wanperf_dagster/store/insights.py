"""The WAN insight feeds in Redis: SLE per site-hour, VPN path samples, device events.

Each feed keeps one hash per site-day (`keys.raw_feed`), hash-tagged like the raw samples so
everything of a site-day shares a cluster slot. Fields are idempotent (an hour, a slot and path,
an event's instant, device, port and type), so a page saved twice (a resumed ingestion, a
duplicate in the feed) is stored once. The device-event feed also records which time windows it
fetched completely: only there do events say exactly when a port was down.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence

import pandas as pd
import redis

from . import keys
from .codec import decode_json_values, no_cycle_collection
from .samples import Compaction, _bytes, compact_site_days, day_of, unpack

FEEDS = ("sle", "paths", "events", "devices")
SLE_COLUMNS = [
    "hour",
    "site_id",
    "gateway_health",
    "wan_link_health",
    "application_health",
    "num_gateways",
    "num_clients",
]
PATH_COLUMNS = [
    "ts",
    "site_id",
    "path_id",
    "circuit_id",
    "mac",
    "port_id",
    "peer_mac",
    "peer_port_id",
    "peer_site_id",
    "type",
    "up",
    "latency_ms",
    "jitter_ms",
    "loss_pct",
    "mos",
]
EVENT_COLUMNS = ["ts", "site_id", "circuit_id", "mac", "port_id", "event", "type", "text"]
COLUMNS = {"sle": SLE_COLUMNS, "paths": PATH_COLUMNS, "events": EVENT_COLUMNS}
TIME_COLUMN = {"sle": "hour", "paths": "ts", "events": "ts", "devices": "ts"}


def field_of(feed: str, row: dict) -> str:
    """The row's field in its site-day hash: what makes two copies of it one."""
    if feed == "sle":
        return str(int(row["hour"]))
    if feed == "paths":
        return f"{int(row['ts'])}|{row['path_id']}"
    if feed == "devices":  # a gateway's status of a slot: an ingestion run again overwrites it
        return f"{int(row['ts'])}|{row['mac']}"
    return f"{row['ts']!r}|{row['mac']}|{row.get('port_id') or ''}|{row['type']}"


def queue_rows(
    pipe: redis.client.Pipeline,
    feed: str,
    rows: Iterable[dict],
    ttl_seconds: int | None,
) -> int:
    """Queue the rows (each with `site_id` and its time column, epoch seconds) into their
    site-day hashes; returns how many were queued."""
    time_column = TIME_COLUMN[feed]
    by_key: dict[str, dict[str, str]] = defaultdict(dict)
    n = 0
    for row in rows:
        day = day_of(float(row[time_column]))
        by_key[keys.raw_feed(feed, day, row["site_id"])][field_of(feed, row)] = json.dumps(
            row, separators=(",", ":")
        )
        n += 1
    for key, mapping in by_key.items():
        pipe.hset(key, mapping=mapping)
        if ttl_seconds:
            pipe.expire(key, ttl_seconds)
    return n


READ_BATCH = 50  # site-days parsed at a time (`bench storage`: 59 MiB peak, against 514 at once)


def read_site_days(
    client: redis.Redis,
    feed: str,
    site_days: Sequence[tuple[str, str]],
    columns: Sequence[str] | None = None,
    archived: Callable[[Sequence[tuple[str, str]]], dict[tuple[str, str], dict]] | None = None,
) -> pd.DataFrame:
    """Every stored row of the feed for the (day, site) pairs, sorted by time; times as UTC
    timestamps. Pipelined and parsed `READ_BATCH` site-days at a time, each batch made columns
    before the next is read: a 500 site-day chunk's VPN path samples parsed at once took the
    chunk run to 885 MiB in `bench backfill`. Unreadable values are dropped and counted in
    `attrs["invalid_values"]`. A feed whose columns the registry declares (devices) gives them.
    `archived(batch)`: the fields of those of a batch's site-days kept elsewhere (the history
    tier's, once released), read under Redis's."""
    columns = list(columns or COLUMNS[feed])
    frames, unreadable = [], 0
    for start in range(0, len(site_days), READ_BATCH):
        batch = site_days[start : start + READ_BATCH]
        stored = stored_fields(client, feed, batch)
        if archived is not None:  # the history's rows under Redis's: a late row wins
            older = archived(batch)
            for k, pair in enumerate(batch):
                if pair in older:
                    stored[k] = {**older[pair], **stored[k]}
        rows = []
        with no_cycle_collection():
            for fields in stored:
                parsed, bad = decode_json_values(
                    list(fields.values()), lambda row: isinstance(row, dict)
                )
                rows += parsed
                unreadable += bad
            if rows:
                frames.append(pd.DataFrame.from_records(rows, columns=columns))
        del rows
    frame = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame.from_records([], columns=columns)
    )
    time_col = TIME_COLUMN[feed]
    frame[time_col] = pd.to_datetime(
        pd.to_numeric(frame[time_col], errors="coerce"), unit="s", utc=True
    )
    frame = frame.sort_values([time_col, *columns[1:3]], kind="stable").reset_index(drop=True)
    frame.attrs["invalid_values"] = unreadable
    return frame


def _feed_keys(feed: str) -> Callable[[str, str], tuple[str, str]]:
    return lambda day, site: (keys.raw_feed(feed, day, site), keys.raw_feed_packed(feed, day, site))


def stored_fields(
    client: redis.Redis, feed: str, site_days: Sequence[tuple[str, str]]
) -> list[dict[bytes, bytes]]:
    """Each site-day's stored fields and values: its compacted value's, with a late hash's
    fields over them (one pipelined round trip)."""
    return [fields for fields, _, _ in stored_as_read(client, feed, site_days)]


def stored_as_read(
    client: redis.Redis, feed: str, site_days: Sequence[tuple[str, str]]
) -> list[tuple[dict[bytes, bytes], int, bytes | None]]:
    """Each site-day's stored fields and values (`stored_fields`), with its hash's length and
    its compacted value as read: what `release_site_days` compares before it drops them."""
    pipe = client.pipeline(transaction=False)
    for day, site in site_days:
        raw, packed = _feed_keys(feed)(day, site)
        pipe.hgetall(raw)
        pipe.get(packed)
    replies = pipe.execute()
    out = []
    for k in range(len(site_days)):
        late, packed = replies[2 * k], replies[2 * k + 1]
        fields = {_bytes(f): _bytes(v) for f, v in late.items()}
        if packed is not None:
            fields = {**unpack(packed), **fields}
        out.append((fields, len(late), packed))
    return out


def days_held_as_hashes(
    client: redis.Redis, site_ids: Sequence[str], days: Sequence[str], feeds=FEEDS
) -> list[str]:
    """Those of the days for which some feed of some site is still a hash."""
    pairs = [(day, feed, site) for day in days for feed in feeds for site in site_ids]
    there = _exist(client, [keys.raw_feed(feed, day, site) for day, feed, site in pairs])
    return sorted({day for (day, _, _), x in zip(pairs, there, strict=True) if x})


EXISTS_BATCH = 10_000  # a month of four feeds at 20,000 sites is 2.4 million keys to look at


def _exist(client: redis.Redis, names: Sequence[str]) -> list[bool]:
    out: list[bool] = []
    for start in range(0, len(names), EXISTS_BATCH):
        pipe = client.pipeline(transaction=False)
        for name in names[start : start + EXISTS_BATCH]:
            pipe.exists(name)
        out += [bool(x) for x in pipe.execute()]
    return out


def compact_days(
    client: redis.Redis, site_ids: Sequence[str], days: Sequence[str], feeds=FEEDS
) -> Compaction:
    """Each feed's site-days of the days that are (still) hashes folded into their one value
    each (`samples.compact_site_days`: 24x less for a day of VPN paths); a closed day's, or
    today's hours gone by."""
    pairs = [(feed, day, site) for feed in feeds for day in days for site in site_ids]
    there = _exist(client, [keys.raw_feed(feed, day, site) for feed, day, site in pairs])
    done = Compaction()
    for feed in feeds:
        todo = [(d, s) for (f, d, s), x in zip(pairs, there, strict=True) if x and f == feed]
        one = compact_site_days(client, todo, keys_of=_feed_keys(feed))
        for name in ("site_days", "samples", "bytes_before", "bytes_after", "retried"):
            setattr(done, name, getattr(done, name) + getattr(one, name))
    return done


# a site-day gone to the history: its hash and value deleted only if unchanged since they were
# read (a row that lands meanwhile stays, read beside the history's)
_RELEASE = """
if redis.call('HLEN', KEYS[1]) ~= tonumber(ARGV[1]) then return 0 end
local packed = redis.call('GET', KEYS[2])
if (packed or '') ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
return 1
"""


def release_site_days(
    client: redis.Redis,
    feed: str,
    read: Sequence[tuple[tuple[str, str], int, bytes | None]],
    ttl_seconds: int,
) -> int:
    """Mark each (day, site) released, then drop its hash and value if they are as they were
    read (`read`: the pair, the hash's length then and the value then). Marked first: a crash
    between the two leaves rows read twice over (one wins), never rows not read. Returns how
    many were dropped."""
    if not read:
        return 0
    pipe = client.pipeline(transaction=False)
    for (day, site), _, _ in read:
        pipe.sadd(keys.raw_feed_released(feed, site), day)
        pipe.expire(keys.raw_feed_released(feed, site), ttl_seconds)
    pipe.execute()
    pipe = client.pipeline(transaction=False)
    for (day, site), length, packed in read:  # EVAL: a cluster's pipeline sends it as is
        raw, value = _feed_keys(feed)(day, site)
        pipe.execute_command("EVAL", _RELEASE, 2, raw, value, length, packed or b"")
    return sum(pipe.execute())


def released_site_days(
    client: redis.Redis, feed: str, site_days: Sequence[tuple[str, str]]
) -> set[tuple[str, str]]:
    """Which of the (day, site) pairs of the feed went to the history tier."""
    sites = sorted({s for _, s in site_days})
    pipe = client.pipeline(transaction=False)
    for site in sites:
        pipe.smembers(keys.raw_feed_released(feed, site))
    gone = {(_str(d), site) for site, days in zip(sites, pipe.execute(), strict=True) for d in days}
    return {sd for sd in site_days if sd in gone}


class IngestionState:
    """Where each insight feed's ingestion stands: one hash per org, read once and written with
    each page (the next SLE hour, the page or cursor in progress, the event window)."""

    def __init__(self, client: redis.Redis, org_id: str):
        self.key = keys.insights_state(org_id)
        raw = client.hgetall(self.key)
        self.values = {
            (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in raw.items()
        }

    def int(self, name: str) -> int | None:
        value = self.values.get(name, "")
        return int(value) if value.lstrip("-").isdigit() else None

    def queue(self, pipe: redis.client.Pipeline, **changes) -> None:
        for name, value in changes.items():
            self.values[name] = "" if value is None else str(value)
        pipe.hset(self.key, mapping={k: self.values[k] for k in changes})

    def write(self, client: redis.Redis, **changes) -> None:
        """Record the changes now (`queue` them with a page's writes where there is one)."""
        pipe = client.pipeline(transaction=False)
        self.queue(pipe, **changes)
        pipe.execute()


def queue_coverage(pipe: redis.client.Pipeline, org_id: str, start: float, end: float) -> None:
    """Record that the org's device-event feed holds every event of [start, end)."""
    pipe.zadd(keys.event_coverage(org_id), {f"{int(start)}:{int(end)}": int(start)})


def event_coverage(
    client: redis.Redis, org_id: str | None, start: float, end: float
) -> list[tuple[int, int]]:
    """The org's fetched windows overlapping [start, end), merged where they touch or overlap
    (with those the single-org releases recorded without an org)."""
    members = [
        m
        for key in dict.fromkeys((keys.event_coverage(org_id), keys.event_coverage()))
        for m in client.zrangebyscore(key, "-inf", int(end))
    ]
    windows = []
    for member in members:
        s, _, e = (member.decode() if isinstance(member, bytes) else member).partition(":")
        if s.lstrip("-").isdigit() and e.lstrip("-").isdigit() and int(e) > start:
            windows.append((int(s), int(e)))
    merged: list[tuple[int, int]] = []
    for s, e in sorted(windows):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def queue_circuits_seen(
    pipe: redis.client.Pipeline,
    site_id: str,
    circuit_ids: Sequence[str],
    t: float,
    ttl: int,
    since: Mapping[str, float] | None = None,
) -> None:
    """Record that the site has these circuits at `t` (and each one in `since` from that instant
    at the latest: an offline gateway's ports existed when it was last seen): the earliest
    sight of each is kept, whatever order the sightings are written in (a replay of the past
    after a live sweep, a worker whose clock is behind), and its last moves forward (the
    register behind a site's expected circuits)."""
    if not circuit_ids:
        return
    since = since or {}
    first, last = keys.circuits_first(site_id), keys.circuits_last(site_id)
    pipe.zadd(first, {c: min(float(t), float(since.get(c, t))) for c in circuit_ids}, lt=True)
    pipe.zadd(last, {c: float(t) for c in circuit_ids}, gt=True)
    pipe.expire(first, ttl)
    pipe.expire(last, ttl)


CIRCUIT_COLUMNS = ["site_id", "circuit_id", "first_seen", "last_seen"]


def read_circuits(client: redis.Redis, site_ids: Sequence[str]) -> pd.DataFrame:
    """Every circuit the sites have had: `site_id`, `circuit_id`, `first_seen`, `last_seen`
    (epoch seconds), in one pipelined round trip."""
    pipe = client.pipeline(transaction=False)
    for site in site_ids:
        pipe.zrange(keys.circuits_first(site), 0, -1, withscores=True)
        pipe.zrange(keys.circuits_last(site), 0, -1, withscores=True)
    replies = pipe.execute()
    rows = []
    for k, site in enumerate(site_ids):
        last = {_str(c): s for c, s in replies[2 * k + 1]}
        for c, first in replies[2 * k]:
            c = _str(c)
            rows.append((site, c, float(first), float(last.get(c, first))))
    return pd.DataFrame.from_records(rows, columns=CIRCUIT_COLUMNS)


def _str(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def queue_circuits_checked(pipe: redis.client.Pipeline, t: float, ttl: int) -> None:
    """Record when the gateways' listing was last read in full: a circuit it no longer lists
    since then is gone (removed), not merely dark."""
    pipe.set(keys.circuits_checked(), repr(float(t)), ex=ttl)


def circuits_checked(client: redis.Redis) -> float | None:
    """When the gateways' listing was last read in full, or None."""
    raw = client.get(keys.circuits_checked())
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None
