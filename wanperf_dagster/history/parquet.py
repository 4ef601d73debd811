"""Parquet files by asset and day: `<root>/asset=<asset>/day=<YYYY-MM-DD>/part-0.parquet`.

A day's file holds every site of that day. Writing a chunk of site-days replaces those sites'
rows and keeps the others (read, filter, concat, write), under a lock per asset-day so two chunk
runs of one day never lose each other's rows. A file is written whole under a temporary name and
then moved into place (a local rename is atomic; an S3 object appears only when its upload
completes), so no reader ever sees half a file.

Which sites a file holds is recorded in its schema metadata, so a site-day that was materialized
empty (a site with no WAN samples) is told apart from one never materialized.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

SITES_KEY = b"wanperf/site_ids"
PART = "part-0.parquet"

Lock = Callable[[str, str], contextlib.AbstractContextManager]


def open_filesystem(location: str, endpoint: str | None = None) -> tuple[pafs.FileSystem, str]:
    """(filesystem, root path) of a directory, a `file://` URL, or `s3://bucket/prefix` (with an
    S3-compatible `endpoint` such as http://127.0.0.1:9000; credentials from the usual AWS
    variables)."""
    if location.startswith("s3://"):
        parts = urlsplit(location)
        options: dict = {}
        if endpoint:
            ep = urlsplit(endpoint)
            options = {"endpoint_override": ep.netloc, "scheme": ep.scheme or "https"}
        fs = pafs.S3FileSystem(**options)
        return fs, f"{parts.netloc}{parts.path}".rstrip("/")
    path = urlsplit(location).path if location.startswith("file://") else location
    fs = pafs.LocalFileSystem()
    fs.create_dir(path, recursive=True)
    return fs, path.rstrip("/")


def _no_lock(asset: str, day: str):
    return contextlib.nullcontext()


def _still_held(held) -> None:
    """Before the file is replaced: the lock is still ours, its time renewed (`reacquire` raises
    `LockNotOwnedError` when it expired and another writer may have read the old file), so the
    lock can be short and a killed writer blocks the next one for seconds, not minutes."""
    if held is not None and hasattr(held, "reacquire"):
        held.reacquire()


class HistoryStore:
    """Site-day tables of some assets, kept for as long as the files are."""

    def __init__(self, location: str, endpoint: str | None = None, lock: Lock | None = None):
        self.location = location
        self.fs, self.root = open_filesystem(location, endpoint)
        self.lock = lock or _no_lock

    # layout -----------------------------------------------------------------------------------
    def asset_dir(self, asset: str) -> str:
        return f"{self.root}/asset={asset}"

    def day_file(self, asset: str, day: str) -> str:
        return f"{self.asset_dir(asset)}/day={day}/{PART}"

    def days(self, asset: str) -> list[str]:
        """The days the history holds for an asset, oldest first."""
        selector = pafs.FileSelector(self.asset_dir(asset), allow_not_found=True)
        found = [
            info.base_name.removeprefix("day=")
            for info in self.fs.get_file_info(selector)
            if info.type == pafs.FileType.Directory and info.base_name.startswith("day=")
        ]
        return sorted(found)

    # writing ----------------------------------------------------------------------------------
    def write_site_days(self, asset: str, day: str, tables: Mapping[str, pa.Table]) -> int:
        """Replace the rows of the given sites (site id -> its rows of the day) in the asset-day
        file, keeping every other site's; returns the bytes of the file written."""
        if not tables:
            return 0
        with self.lock(asset, day) as held:
            existing, sites = self._read_file(asset, day)
            replaced = set(tables)
            parts = []
            if existing is not None and existing.num_rows:
                keep = pc.invert(pc.is_in(_ids(existing), value_set=pa.array(sorted(replaced))))
                parts.append(existing.filter(keep))
            new = [t for t in tables.values() if t.num_rows] or [next(iter(tables.values()))]
            # one metadata rewrite for the whole chunk, then one contiguous table: 2,000
            # one-site tables written as 2,000 chunks would make 2,000 tiny row groups
            incoming = _plain(
                pa.concat_tables(new, promote_options="permissive") if len(new) > 1 else new[0]
            )
            if incoming.num_rows or not parts:
                parts.append(incoming)
            table = (
                pa.concat_tables(parts, promote_options="permissive")
                if len(parts) > 1
                else parts[0]
            ).combine_chunks()
            all_sites = sorted(set(sites) | replaced)
            return self._write_file(asset, day, table, all_sites, held)

    def _write_file(
        self, asset: str, day: str, table: pa.Table, sites: list[str], held=None
    ) -> int:
        metadata = {**(table.schema.metadata or {}), SITES_KEY: json.dumps(sites).encode()}
        table = table.replace_schema_metadata(metadata)
        final = self.day_file(asset, day)
        self.fs.create_dir(final.rsplit("/", 1)[0], recursive=True)
        if isinstance(self.fs, pafs.LocalFileSystem):
            temporary = f"{final}.{uuid.uuid4().hex}.tmp"
            pq.write_table(table, temporary, filesystem=self.fs, compression="zstd")
            try:
                _still_held(held)
            except BaseException:
                self.fs.delete_file(temporary)
                raise
            self.fs.move(temporary, final)  # atomic: readers see the old file or the new one
        else:  # an object store: the object appears when its upload completes
            _still_held(held)
            pq.write_table(table, final, filesystem=self.fs, compression="zstd")
        return self.fs.get_file_info(final).size

    # reading ----------------------------------------------------------------------------------
    def _read_file(self, asset: str, day: str) -> tuple[pa.Table | None, list[str]]:
        path = self.day_file(asset, day)
        if self.fs.get_file_info(path).type == pafs.FileType.NotFound:
            return None, []
        table = pq.read_table(path, filesystem=self.fs)
        raw = (table.schema.metadata or {}).get(SITES_KEY)
        sites = json.loads(raw) if raw else sorted(set(_ids(table).to_pylist()))
        return table, sites

    def read_site_days(
        self, asset: str, site_days: Sequence[tuple[str, str]]
    ) -> tuple[dict[tuple[str, str], pa.Table], list[tuple[str, str]]]:
        """The rows of each (day, site id) the history holds, and those it does not."""
        found: dict[tuple[str, str], pa.Table] = {}
        missing: list[tuple[str, str]] = []
        by_day: dict[str, list[str]] = {}
        for day, site in site_days:
            by_day.setdefault(day, []).append(site)
        for day, sites in by_day.items():
            table, held = self._read_file(asset, day)
            held_set = set(held)
            for site in sites:
                if table is None or site not in held_set:
                    missing.append((day, site))
                    continue
                found[(day, site)] = table.filter(pc.equal(_ids(table), site))
        return found, missing

    def read_days(self, asset: str, days: Sequence[str]) -> tuple[pa.Table | None, list[str]]:
        """Every site's rows of the given days (one file each), and the days not held."""
        tables, missing = [], []
        for day in days:
            table, _ = self._read_file(asset, day)
            if table is None:
                missing.append(day)
            elif table.num_rows:
                tables.append(table)
        if not tables:
            return None, missing
        return pa.concat_tables(tables, promote_options="permissive"), missing

    def dataset(self, asset: str) -> ds.Dataset | None:
        """The asset's whole history as one dataset (its rows carry their `day`, or `ts`, so
        the directories' names are not read as a column); None before anything was written."""
        if not self.days(asset):
            return None
        return ds.dataset(
            self.asset_dir(asset),
            filesystem=self.fs,
            format="parquet",
            exclude_invalid_files=True,
            ignore_prefixes=[".", "_"],
        )


def _ids(table: pa.Table) -> pa.ChunkedArray:
    column = table.column("site_id")
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    return column.cast(pa.string())


def _plain(table: pa.Table) -> pa.Table:
    """The table with pandas' metadata kept for the column types (nullable integers,
    categories) but without its index, whose length differs from table to table."""
    metadata = dict(table.schema.metadata or {})
    raw = metadata.get(b"pandas")
    if raw:
        pandas = json.loads(raw)
        pandas["index_columns"] = []
        pandas["columns"] = [c for c in pandas.get("columns", []) if c.get("name") is not None]
        metadata[b"pandas"] = json.dumps(pandas).encode()
    return table.replace_schema_metadata(metadata)
