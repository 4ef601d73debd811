"""The one storage API: every read of stored data (asset values, the raw feeds, what the
ingestion and the alerts keep beside them) and every write of an asset's value goes through
`AssetStore`, by the IO manager, an asset, a sensor, a check, the alerts, the dashboard, the CLI
or the demo. Which datasets exist, how long they live and which go to history is the registry's
(`datasets.py`); how they sit in Redis is `store/`'s, the only package that talks to Redis.

Nothing else names a partition's storage key, so a second storage tier, a dashboard or a cluster
can slide in here without touching the assets. It imports no Dagster. Which partition key each
site has is recorded beside the data (`register_site_keys`, by the snapshot runs), for readers
without a Dagster instance.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import duckdb
import pandas as pd
import pyarrow as pa

from wanperf_dagster import store
from wanperf_dagster.history import (
    HistoryStore,
    daily_p95,
    export_history,
    history_connection,
    thirteen_month_trends,
)
from wanperf_dagster.settings import Settings
from wanperf_dagster.store import baselines as baseline_store
from wanperf_dagster.store import bulk, sessions
from wanperf_dagster.store import insights as feed_store
from wanperf_dagster.store import samples as sample_store

from .datasets import Lifetimes, dataset, history_datasets, raw_feed_of
from .partition_keys import day_of, site_day_key, site_id_of, split_site_day_key


class PartitionNotFoundError(KeyError):
    """An asset partition was never materialized or its stored value expired."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


@dataclass(frozen=True)
class Loaded:
    """What a read found: the partitions' rows as one table, and the keys that had no value."""

    table: pa.Table
    missing: list[str | None]
    found: int

    def to_pandas(self):
        return self.table.to_pandas()


def _only(loaded: Loaded, columns: Sequence[str] | None) -> Loaded:
    """The read's rows with only `columns` (and `site_id`), as the history tier gives them."""
    if columns is None or not loaded.found:
        return loaded
    keep = [c for c in dict.fromkeys(["site_id", *columns]) if c in loaded.table.column_names]
    return Loaded(table=loaded.table.select(keep), missing=loaded.missing, found=loaded.found)


LOAD_BATCH = 500  # partitions decoded and joined at a time when loading many


class _FromRegistry:
    def __repr__(self) -> str:
        return "the registry's"


FROM_REGISTRY = _FromRegistry()


def _release_before() -> str:
    """The first day whose raw samples are kept: a day before it is over by more than a day
    (whatever lands late has landed), so `_release_raw` may let it go and `read_samples` asks
    whether it did."""
    return day_of(time.time() - 86400)


class AssetStore:
    """Stored asset values in two tiers. The hot tier is Redis: one compressed Arrow table per
    asset partition, read and written in pipelined round trips (never one per partition), kept
    for the hot window. The history tier (optional) keeps the site-days of some assets for good,
    in Parquet; a site-day no longer in Redis is read from it."""

    def __init__(
        self,
        client: store.Redis,
        compression: str | None = store.DEFAULT_COMPRESSION,
        history: HistoryStore | None = None,
        lifetimes: Lifetimes | None = None,
    ):
        self.client = client
        self.compression = compression
        self.history = history
        self.lifetimes = lifetimes or Lifetimes()

    @classmethod
    def from_settings(cls, settings: Settings, client: store.Redis | None = None) -> AssetStore:
        """The store the settings name: `WANPERF_REDIS_URL` (else the embedded server, started
        when it does not run yet), the history at `WANPERF_HISTORY_URL` (else the data
        directory's) and the lifetimes of `WANPERF_HOT_DAYS` and `WANPERF_ROLLUP_TTL_DAYS`."""
        client = client or store.connect(
            store.resolve_redis_url(settings.redis_url, settings.data_dir)
        )
        return cls(
            client,
            history=history_for(settings, client),
            lifetimes=Lifetimes.from_settings(settings),
        )

    # writing ----------------------------------------------------------------------------------
    def save(
        self,
        asset: str | Sequence[str],
        partitions: Mapping[str | None, pa.Table],
        ttl_seconds: int | _FromRegistry | None = FROM_REGISTRY,
        keep_history: bool | None = None,
    ) -> int:
        """Store each partition's table (replacing what was there); returns the bytes written.
        Its lifetime in Redis and whether its site-days go to history are the registry's
        (`datasets.py`) unless given.

        Site-day partitions kept in history go there after Redis: a crash between the two
        leaves Redis new and the history old until the site-day is materialized again (which
        rewrites both); readers prefer Redis while it holds the value.
        """
        name = "/".join(_path(asset))
        if isinstance(ttl_seconds, _FromRegistry):
            ttl_seconds = self.lifetimes.seconds(dataset(name).lifetime)
        if keep_history is None:
            keep_history = dataset(name).history
        written = store.put_tables(
            self.client, _path(asset), dict(partitions), ttl_seconds, self.compression
        )
        if keep_history and self.history is not None:
            by_day: dict[str, dict[str, pa.Table]] = {}
            for key, table in partitions.items():
                day, site = split_site_day_key(str(key))
                by_day.setdefault(day, {})[site_id_of(site)] = table
            for day, tables in by_day.items():
                self.history.write_site_days(name, day, tables)
            self.heal_history()
            if name == "site_snapshots":
                self._release_raw(by_day)
            elif dataset(name).feed in feed_store.FEEDS:
                self._release_feed(dataset(name).feed, by_day)
        return written

    def _release_raw(self, by_day: Mapping[str, Mapping[str, pa.Table]]) -> None:
        """A site-day's raw samples, once its snapshot is in the history tier and its day is
        over (and the day after, for whatever lands late), are that snapshot: Redis lets them
        go, and `read_samples` reads the snapshot for that site-day from then on."""
        before = _release_before()
        closed = [(day, site) for day, tables in by_day.items() if day < before for site in tables]
        if closed:
            sample_store.release_site_days(self.client, closed, self.lifetimes.raw)

    def _release_feed(self, feed: str, by_day: Mapping[str, Mapping[str, pa.Table]]) -> None:
        """A closed site-day of an insight feed, once the feed's asset of it is in the history
        tier, goes there too, as stored (its fields and values: `{feed}_feed` in the history),
        and Redis lets it go; `read_feed` reads it from there from then on, under any row that
        lands since. A VPN paths site-day is 7 KB compacted in Redis (170 KB as a day of
        hashes); 31 days of the four feeds compacted at 2,000 sites would still be 1.39 GiB."""
        before = _release_before()
        closed = [(day, site) for day, tables in by_day.items() if day < before for site in tables]
        if not closed:
            return
        read = feed_store.stored_as_read(self.client, feed, closed)
        # nothing in Redis: released before, or the feed had no rows
        held = {sd: r for sd, r in zip(closed, read, strict=True) if r[1] or r[2] is not None}
        if not held:
            return
        fields = {sd: r[0] for sd, r in held.items()}
        for pair, older in self._archived(feed, list(held)).items():  # late rows over the archive
            fields[pair] = {**older, **fields[pair]}
        by_day_fields: dict[str, dict[str, pa.Table]] = {}
        for (day, site), values in fields.items():
            by_day_fields.setdefault(day, {})[site] = _archive_table(site, values)
        for day, tables in by_day_fields.items():
            self.history.write_site_days(f"{feed}_feed", day, tables)
        feed_store.release_site_days(
            self.client,
            feed,
            [(sd, n, packed) for sd, (_, n, packed) in held.items()],
            self.lifetimes.raw,
        )

    def _archived(
        self, feed: str, site_days: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], dict[bytes, bytes]]:
        """The fields and values the history holds of the released ones of the site-days."""
        released = feed_store.released_site_days(self.client, feed, site_days)
        if not released or self.history is None:
            return {}
        found, _ = self.history.read_site_days(f"{feed}_feed", sorted(released))
        return {
            pair: dict(
                zip(t.column("field").to_pylist(), t.column("value").to_pylist(), strict=True)
            )
            for pair, t in found.items()
        }

    def read_snapshot_samples(self, partition_keys: Sequence[tuple[str, str]]) -> pd.DataFrame:
        """The samples of (day, site partition key) pairs for their `site_snapshots`
        (`read_samples`, the partition keys as the run knows them)."""
        site_days = [(d, site_id_of(s)) for d, s in partition_keys]
        keys = {(d, site_id_of(s)): site_day_key(d, s) for d, s in partition_keys}
        return self.read_samples(site_days, keys=keys)

    # reading ----------------------------------------------------------------------------------
    def load(
        self,
        asset: str | Sequence[str],
        partition_keys: Sequence[str | None] = (None,),
        *,
        allow_missing: bool = False,
    ) -> Loaded:
        """The partitions' rows as one table (dictionary columns re-encoded over the whole).

        A partition never materialized raises `PartitionNotFoundError` naming the asset and the
        keys, unless `allow_missing`, when it is left out and listed in `missing`.

        Read `LOAD_BATCH` partitions at a time, each batch made one contiguous table before the
        next: every decoded partition is a table of its own with its schema, and a day of
        circuit_kpis over 10,000 sites held at once took the process from 164 to 1,150 MiB for
        8 MiB of rows (`bench storage`, 220 MiB in batches)."""
        keys = list(partition_keys)
        parts, missing, found = [], [], 0
        for start in range(0, len(keys), LOAD_BATCH):
            batch = keys[start : start + LOAD_BATCH]
            tables, absent = store.get_tables(self.client, _path(asset), batch)
            if absent and self.history is not None:
                tables, absent = self._with_history(asset, batch, tables, absent)
            missing += absent
            found += len(tables)
            if tables:
                parts.append(store.concat_partitions(tables).combine_chunks())
            del tables
        if missing and not allow_missing:
            raise missing_error(asset, missing)
        table = store.concat_partitions(parts) if parts else pa.table({})
        return Loaded(table=table, missing=missing, found=found)

    def _with_history(self, asset, keys, tables, missing):
        """Fill the site-days Redis no longer holds from the history tier, in key order."""
        absent = set(missing)
        by_key = dict(zip([k for k in keys if k not in absent], tables, strict=True))
        site_days = [k for k in missing if k is not None and "|" in str(k)]
        wanted = {}
        for key in site_days:
            day, site = split_site_day_key(key)
            wanted[(day, site_id_of(site))] = key
        found, _ = self.history.read_site_days("/".join(_path(asset)), list(wanted))
        self.heal_history()
        for pair, table in found.items():
            by_key[wanted[pair]] = table
        ordered = [by_key[k] for k in keys if k in by_key]
        return ordered, [k for k in keys if k not in by_key]

    def load_site_days(self, asset: str, days: Sequence[str], site_ids: Sequence[str]) -> Loaded:
        """Every site-day of the given days and sites that has a stored value."""
        keys = [site_day_key(d, s) for d in days for s in site_ids]
        return self.load(asset, keys, allow_missing=True)

    def load_days(
        self,
        asset: str,
        days: Sequence[str],
        site_keys: Sequence[str],
        columns: Sequence[str] | None = None,
        only_these_sites: bool = False,
    ) -> Loaded:
        """Every site-day of the given days: from the history tier, one file a day, when it is
        there (the long view: weeks, months, the 13-month trends), else from Redis. With
        `columns`, only those (and `site_id`) are read from the history's files: a month of
        hourly KPIs is 70 columns where a report may need 4. With `only_these_sites`, the
        history's rows of the sites of `site_keys` only (a slice of the org at a time)."""
        if self.history is None:
            loaded = self.load_site_days(asset, days, site_keys)
            return _only(loaded, columns)
        sites = [site_id_of(k) for k in site_keys] if only_these_sites else None
        table, missing_days = self.history.read_days(asset, days, columns, sites)
        self.heal_history()
        loaded = self.load_site_days(asset, missing_days, site_keys) if missing_days else None
        if loaded is not None:
            loaded = _only(loaded, columns)
        parts = [t for t in (table, loaded.table if loaded and loaded.found else None) if t]
        merged = store.concat_partitions(parts) if parts else pa.table({})
        return Loaded(
            table=merged,
            missing=loaded.missing if loaded else [],
            found=(len(days) - len(missing_days)) * len(site_keys)
            + (loaded.found if loaded else 0),
        )

    def history_query(self, sql: str) -> pa.Table:
        """A DuckDB query over the history tier, one view per history dataset of the registry
        (`circuit_kpis`, `port_events`, ...)."""
        return self._over_history(lambda con: con.sql(sql).to_arrow_table())

    def export_history(self, target: str, on_progress=None):
        """Copy every history dataset into a warehouse (`duckdb:FILE` or `postgresql://…`);
        yields (dataset, rows) as each is done."""
        if self.history is None:
            raise RuntimeError("no history tier is configured")
        return export_history(self.history, target, history_datasets(), on_progress)

    def thirteen_month_trends(self, end_month: str, months: int = 13) -> tuple[pa.Table, pa.Table]:
        """Per circuit: p95 utilisation and availability by month and the end month's p95
        (`history.thirteen_month_trends`); and every circuit's daily p95 over those months,
        what the capacity forecast fits (`history.daily_p95`)."""
        return self._over_history(
            lambda con: (
                thirteen_month_trends(con, end_month, months),
                daily_p95(con, end_month, months),
            )
        )

    def _over_history(self, query):
        """Run a query on a DuckDB over the history; a file it finds unreadable is moved aside,
        its site-days healed from Redis, and the query run again."""
        if self.history is None:
            raise RuntimeError("no history tier is configured")
        try:
            for _ in range(MAX_QUARANTINED_PER_QUERY):
                try:
                    with history_connection(
                        self.history, history_datasets()
                    ) as con:  # closed here, not by the GC
                        return query(con)
                except duckdb.Error as exc:
                    damaged = _damaged_file(str(exc), self.history.root)
                    if damaged is None:
                        raise
                    self.history.quarantine(damaged, f"{type(exc).__name__}: {exc}")
                    self.heal_history()  # before the query runs again: it sees them back
            raise RuntimeError(
                f"the history holds more than {MAX_QUARANTINED_PER_QUERY} unreadable files"
                " for this query; they were moved aside: run it again"
            )
        finally:
            self.heal_history()

    def heal_history(self) -> int:
        """Rewrite into the history, from Redis, the site-days of every asset-day whose file
        was moved aside (unreadable), where Redis still holds them; the others come back with
        their next materialization. Returns how many site-days were rewritten."""
        if self.history is None or not self.history.quarantined:
            return 0
        damaged = sorted(set(self.history.quarantined))
        self.history.quarantined.clear()
        site_ids = self.site_ids() or []
        keys_of = dict(zip(site_ids, self.site_keys(site_ids), strict=True))
        healed = 0
        for asset, day in damaged:
            held, _ = self.history.read_site_days(asset, [(day, s) for s in site_ids])
            lost = [s for s in site_ids if (day, s) not in held]
            if not lost:
                continue
            keys = [site_day_key(day, keys_of[s]) for s in lost]
            tables, missing = store.get_tables(self.client, asset.split("/"), keys)
            found = [s for s, k in zip(lost, keys, strict=True) if k not in set(missing)]
            if found:
                self.history.write_site_days(asset, day, dict(zip(found, tables, strict=True)))
                healed += len(found)
            log.warning(
                "history: %s %s healed: %d site-day(s) rewritten from Redis, %d to be"
                " materialized again",
                asset,
                day,
                len(found),
                len(lost) - len(found),
            )
        self.history.quarantined.clear()  # what the rewrites themselves found is healed next time
        return healed

    def history_quarantine(self) -> list[dict]:
        """Every history file moved aside as unreadable (asset, day, file, when)."""
        return [] if self.history is None else self.history.quarantine_list()

    def latest(self, asset: str | Sequence[str]) -> pa.Table | None:
        """An unpartitioned asset's stored value, or None before its first materialization."""
        loaded = self.load(asset, [None], allow_missing=True)
        return None if loaded.missing else loaded.table

    def site_ids(self) -> list[str] | None:
        """The site ids of the latest `mist_sites` inventory, in its order; None before the
        first inventory."""
        sites = self.latest("mist_sites")
        return None if sites is None else sites.column("site_id").to_pylist()

    # what is normal: the circuits' hour-of-week baselines (kpi.baselines) --------------------
    def save_baselines(self, org_id: str, frame: pd.DataFrame, built: Mapping[str, str]) -> int:
        """Replace the org's baselines (kept a fortnight: a rebuild that stops lets them lapse,
        and the rule says learning, rather than judge by a stale normal); the bytes stored."""
        built = {k: str(v) for k, v in built.items()}
        return baseline_store.write_baselines(self.client, org_id, frame, built, 14 * 86400)

    def baselines_at(
        self, org_id: str, how: int, site_ids: Sequence[str] | None = None
    ) -> pd.DataFrame | None:
        """The baselines of one hour of the week (0 = Monday 00:00 UTC); None: none learnt."""
        return baseline_store.read_baselines(self.client, org_id, how, site_ids)

    def baselines_built(self, org_id: str) -> dict[str, str]:
        """What the org's baselines were learnt from (`through`, `weeks`, ...); {} if never."""
        return baseline_store.baselines_built(self.client, org_id)

    # the raw feeds ---------------------------------------------------------------------------
    def read_samples(
        self,
        site_days: Sequence[tuple[str, str]],
        since: int | None = None,
        keys: Mapping[tuple[str, str], str] | None = None,
    ) -> pd.DataFrame:
        """Every swept sample of the (day, site id) pairs, as `site_snapshots` holds them
        (unreadable stored values dropped, counted in `attrs`); with `since`, only those of the
        slots from then on (read out by Redis itself). A site-day whose raw samples were
        released (its snapshot in the history tier) is read from that snapshot, with any raw
        sample that landed since, each sample once: recomputing an old site-day gives back the
        same rows. `keys`: each site-day's partition key, where the caller knows it."""
        site_days = list(site_days)
        frame = sample_store.read_site_days(self.client, site_days, since)
        # only a day before `_release_before()` can have been released: the status's and the
        # alerts' reads of today and yesterday ask Redis nothing more
        before = _release_before()
        old_days = [sd for sd in site_days if sd[0] < before]
        released = sorted(sample_store.released_site_days(self.client, old_days))
        if not released:
            return frame
        if keys is None:
            site_keys = dict(zip(released, self.site_keys([s for _, s in released]), strict=True))
            keys = {sd: site_day_key(sd[0], k) for sd, k in site_keys.items()}
        stored = self.load("site_snapshots", [keys[sd] for sd in released], allow_missing=True)
        if not stored.found:
            return frame
        plain = pa.schema(
            [
                pa.field(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type)
                for f in stored.table.schema
            ]
        )
        old = stored.table.cast(plain).to_pandas()[list(frame.columns)]
        if since is not None:
            old = old[old["ts"] >= pd.Timestamp(since, unit="s", tz="UTC")]
        both = pd.concat([old.astype(frame.dtypes.to_dict()), frame], ignore_index=True)
        both = both.drop_duplicates(["ts", "circuit_id"], keep="last")
        out = both.sort_values(["ts", "circuit_id"], kind="stable").reset_index(drop=True)
        out.attrs.update(frame.attrs)
        return out

    def read_recent_samples(
        self,
        org_id: str,
        site_ids: Sequence[str],
        since: int,
        until: int,
        interval_s: int,
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """The sites' samples of the slots from `since` to `until` (with `columns`, at least
        those): from the org's recent hashes (the sweep keeps three hours of them, a few values
        a slot), else from the site-days."""
        recent = sample_store.read_recent(
            self.client, org_id, since, until, interval_s, site_ids, columns
        )
        if recent is not None:
            return recent
        days = sorted({day_of(since), day_of(until)})
        return self.read_samples([(d, s) for d in days for s in site_ids], since=since)

    def read_feed(self, feed: str, site_days: Sequence[tuple[str, str]]) -> pd.DataFrame:
        """Every stored row of an insight feed (`sle`, `paths`, `events`, `devices`) for the
        (day, site id) pairs, sorted by time (unreadable values dropped, counted in `attrs`);
        the columns of a feed that declares them in the registry."""
        record = raw_feed_of(feed)
        columns = [name for name, _, _ in record.fields()] if record.fields else None
        before = _release_before()

        def archived(batch):  # only a day before `_release_before()` can have been released
            return self._archived(feed, [sd for sd in batch if sd[0] < before])

        return feed_store.read_site_days(self.client, feed, list(site_days), columns, archived)

    def circuits(self, site_ids: Sequence[str]):
        """Every circuit the sites have had, with when each was first and last seen in the
        gateways' own listing (`site_id`, `circuit_id`, `first_seen`, `last_seen`): the
        circuits a site-day must have a row for, and when each came and went."""
        return feed_store.read_circuits(self.client, list(site_ids))

    def circuits_checked(self) -> float | None:
        """When the gateways' listing was last read in full (None: never)."""
        return feed_store.circuits_checked(self.client)

    def event_coverage(self, org_id: str | None, start: float, end: float) -> list[tuple[int, int]]:
        """The windows of [start, end) the org's device-event feed fetched completely: where
        events, not samples, say when a port was down (None: an org not known, only what the
        single-org releases recorded)."""
        return feed_store.event_coverage(self.client, org_id, start, end)

    # what the ingestion keeps beside the feeds -------------------------------------------------
    def sites_by_age(self, org_id: str) -> list[tuple[str, float]]:
        """Each site of the org that has samples, oldest newest-sample first, with its time."""
        return bulk.sites_by_age(self.client, org_id)

    def stale_sites(self, org_id: str, older_than: float, now: float) -> list[str]:
        """The org's sites whose newest sample is older than `older_than` seconds at `now`."""
        return bulk.stale_sites(self.client, org_id, older_than, now=now)

    def retire_sites_not_in(self, org_id: str, current: Sequence[str]) -> list[str]:
        """Stop counting sites gone from the org as stale (their data stays); returns them."""
        return bulk.retire_sites_not_in(self.client, org_id, list(current))

    def sweeps(self, org_id: str, n: int = 10) -> list[sessions.SweepSession]:
        """The org's latest sweeps, newest first."""
        return sessions.recent(self.client, org_id, n)

    def sweep_running(self, org_id: str) -> str | None:
        """What holds the org's sweep now (a sweep, or the replay of `make run`), if anything."""
        return sessions.sweep_running(self.client, org_id)

    def hold_sweeps(self, seconds: float) -> None:
        """Scheduled sweeps yield for this long (a replay sweeps at simulated times)."""
        sessions.hold_sweeps(self.client, seconds)

    def release_sweeps(self) -> None:
        sessions.release_sweeps(self.client)

    def replayed_until(self) -> int | None:
        """The last slot the demo's replay swept, if any."""
        return sessions.replayed_until(self.client)

    def set_replayed_until(self, slot: int) -> None:
        sessions.set_replayed_until(self.client, slot)

    def insights_state(self, org_id: str) -> dict[str, str]:
        """Where each insight feed's ingestion stands (cursors, next hour, event window)."""
        return feed_store.IngestionState(self.client, org_id).values

    def alert_state(self, org_id: str) -> store.AlertState:
        """The org's alerts: open incidents, the outbox, dead letters, history."""
        return store.AlertState(self.client, org_id)

    # site keys ------------------------------------------------------------------------------
    def register_site_keys(self, site_keys: Sequence[str]) -> None:
        """Record which partition key each site has (the first one recorded stays)."""
        bulk.register_site_keys(self.client, {site_id_of(k): k for k in site_keys})

    def site_keys(self, site_ids: Sequence[str]) -> list[str]:
        """The partition key of each site, as recorded; a site never recorded has its id."""
        found = bulk.site_keys(self.client, list(site_ids))
        return [k or s for s, k in zip(site_ids, found, strict=True)]


def _archive_table(site: str, fields: Mapping[bytes, bytes]) -> pa.Table:
    """A raw feed's site-day as the history keeps it: its stored fields and values as they
    were, so a read gives back exactly what Redis gave."""
    items = sorted(fields.items())
    return pa.table(
        {
            "site_id": pa.array([site] * len(items), pa.string()),
            "field": pa.array([f for f, _ in items], pa.binary()),
            "value": pa.array([v for _, v in items], pa.binary()),
        }
    )


HISTORY_LOCK_SECONDS = 30
MAX_QUARANTINED_PER_QUERY = 20
log = logging.getLogger(__name__)


def _damaged_file(message: str, root: str) -> str | None:
    """The history file a DuckDB error names, if it names one."""
    for quoted in re.findall(r"['\"]([^'\"]+\.parquet)['\"]", message):
        if quoted.startswith(root):
            return quoted
    return None


def history_for(settings: Settings, client: store.Redis) -> HistoryStore:
    """The history tier of the settings, its asset-day files locked through Redis."""
    return history_store(settings.history_location, settings.history_endpoint, client)


def history_store(location: str, endpoint: str | None, client: store.Redis) -> HistoryStore:
    """The history tier at `location`, its asset-day files locked through Redis."""

    def lock(asset: str, day: str):
        # short: a writer killed while holding it delays the next one by at most this; a live
        # writer whose lock lapsed is refused at its commit (`HistoryStore._write_file`)
        return store.history_lock(client, asset, day, ttl=HISTORY_LOCK_SECONDS, wait=600)

    return HistoryStore(location, endpoint, lock=lock)


def missing_error(
    asset: str | Sequence[str], missing: Sequence[str | None]
) -> PartitionNotFoundError:
    name = "/".join(_path(asset))
    shown = ", ".join("(unpartitioned)" if k is None else k for k in missing[:5])
    more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
    return PartitionNotFoundError(
        f"asset {name}: no stored value for partition {shown}{more} "
        f"(never materialized, or its key expired); materialize it first"
    )


def _path(asset: str | Sequence[str]) -> list[str]:
    return [asset] if isinstance(asset, str) else list(asset)
