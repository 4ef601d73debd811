"""Parquet files by asset and day: `<root>/asset=<asset>/day=<YYYY-MM-DD>/part-<n>.parquet`.

Each chunk of site-days written is a part file of its own (`n` grows with time), and a site's rows
of a day live in the newest part that holds the site. Writing a chunk adds its part, then takes
its sites out of the day's older parts (a part left with no site is deleted; one left with some is
rewritten without the others), under a lock per asset-day. A chunk's write so costs what the chunk
holds: one file per day rewritten whole made a 2,000-site org's chunk runs read and rewrite every
other site's rows (+220 MiB and seconds a chunk, growing with the org). A file is written whole
under a temporary name and then moved into place (a local rename is atomic; an S3 object appears
only when its upload completes), so no reader ever sees half a file; between a part's arrival and
the older parts' cleanup (or after a writer killed in between, until the day's next write) a site
may be in two parts, and every reader here takes the newest.

Which sites a part holds is recorded in its schema metadata, so a site-day that was materialized
empty (a site with no WAN samples) is told apart from one never materialized. `part-0.parquet`,
the one file per day of earlier versions, is read as the oldest part.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

SITES_KEY = b"wanperf/site_ids"
PART_PREFIX, PART_SUFFIX = "part-", ".parquet"
# where unreadable files are moved aside (never deleted): <root>/_quarantine/asset=…/day=…/part-…
QUARANTINE = "_quarantine"
# a temporary file older than this in a day being written is a killed writer's: removed
STALE_TEMPORARY_S = 120
UNREADABLE = (pa.ArrowInvalid, pa.ArrowIOError, OSError)
log = logging.getLogger(__name__)
# in a day's directory from a part's arrival until its sites have left the older parts: while it
# is there (or after a writer killed in between), readers of whole files take each site from its
# newest part instead of reading every file
PENDING = "_cleanup-pending"

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
        # (asset, day) of each file this store moved aside: what its owner heals
        self.quarantined: list[tuple[str, str]] = []

    # damage -----------------------------------------------------------------------------------
    def quarantine(self, path: str, reason: str) -> str | None:
        """Move an unreadable file aside (kept for a person to look at, never deleted), so every
        later read and write of its asset-day goes on without it; named in the log. Returns
        where it went (None when another reader or writer moved it first)."""
        relative = path[len(self.root) + 1 :] if path.startswith(self.root + "/") else path
        target = f"{self.root}/{QUARANTINE}/{relative}.{time.time_ns()}"
        try:
            self.fs.create_dir(target.rsplit("/", 1)[0], recursive=True)
            self.fs.move(path, target)
        except FileNotFoundError:
            return None
        asset, day = _asset_day(relative)
        log.warning(
            "history: %s is unreadable (%s): moved aside to %s; its site-days are rewritten"
            " from Redis where it holds them, else by their next materialization",
            path,
            reason.splitlines()[0][:200],
            target,
        )
        self.quarantined.append((asset, day))
        return target

    def quarantine_list(self) -> list[dict]:
        """Every file moved aside: asset, day, file, when."""
        selector = pafs.FileSelector(
            f"{self.root}/{QUARANTINE}", recursive=True, allow_not_found=True
        )
        out = []
        for info in self.fs.get_file_info(selector):
            if info.type != pafs.FileType.File:
                continue
            relative = info.path[len(self.root) + len(QUARANTINE) + 2 :]
            asset, day = _asset_day(relative)
            mtime = info.mtime.timestamp() if info.mtime is not None else None
            out.append({"asset": asset, "day": day, "file": info.path, "moved_at": mtime})
        return sorted(out, key=lambda q: (q["asset"], q["day"], q["file"]))

    def _clear_stale_temporaries(self, asset: str, day: str) -> int:
        """Remove what writers killed mid-write left (`*.tmp`, older than STALE_TEMPORARY_S):
        only done under the asset-day's lock, where no live writer of the day can be."""
        selector = pafs.FileSelector(self.day_dir(asset, day), allow_not_found=True)
        removed = 0
        for info in self.fs.get_file_info(selector):
            old = (
                info.mtime is not None and time.time() - info.mtime.timestamp() > STALE_TEMPORARY_S
            )
            if info.type == pafs.FileType.File and info.base_name.endswith(".tmp") and old:
                with contextlib.suppress(FileNotFoundError):
                    self.fs.delete_file(info.path)
                    removed += 1
        if removed:
            log.info(
                "history: %d temporary file(s) of killed writers removed from %s",
                removed,
                self.day_dir(asset, day),
            )
        return removed

    # layout -----------------------------------------------------------------------------------
    def asset_dir(self, asset: str) -> str:
        return f"{self.root}/asset={asset}"

    def day_dir(self, asset: str, day: str) -> str:
        return f"{self.asset_dir(asset)}/day={day}"

    def parts(self, asset: str, day: str) -> list[str]:
        """The day's part files, oldest first."""
        selector = pafs.FileSelector(self.day_dir(asset, day), allow_not_found=True)
        names = [
            info.path
            for info in self.fs.get_file_info(selector)
            if info.type == pafs.FileType.File
            and info.base_name.startswith(PART_PREFIX)
            and info.base_name.endswith(PART_SUFFIX)
        ]
        return sorted(names, key=_part_order)

    def files(self, asset: str) -> tuple[list[str], list[str]]:
        """(every part file of the days whose parts hold each site once, the days where a site
        may be in two parts: read those with `read_days`), from one listing of the asset."""
        selector = pafs.FileSelector(self.asset_dir(asset), recursive=True, allow_not_found=True)
        parts: dict[str, list[str]] = {}
        pending: set[str] = set()
        for info in self.fs.get_file_info(selector):
            folder = info.path.rsplit("/", 2)[-2] if info.path.count("/") >= 2 else ""
            if info.type != pafs.FileType.File or not folder.startswith("day="):
                continue
            day = folder.removeprefix("day=")
            if info.base_name == PENDING:
                pending.add(day)
            elif info.base_name.startswith(PART_PREFIX) and info.base_name.endswith(PART_SUFFIX):
                parts.setdefault(day, []).append(info.path)
        files = [
            path
            for day in sorted(parts)
            if day not in pending
            for path in sorted(parts[day], key=_part_order)
        ]
        return files, sorted(pending)

    def pending(self, asset: str, day: str) -> bool:
        info = self.fs.get_file_info(f"{self.day_dir(asset, day)}/{PENDING}")
        return info.type != pafs.FileType.NotFound

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
        """Replace the rows of the given sites (site id -> its rows of the day) in the asset-day,
        keeping every other site's; returns the bytes of the part written."""
        if not tables:
            return 0
        with self.lock(asset, day) as held:
            self._clear_stale_temporaries(asset, day)
            older = self._index(asset, day)  # newest first
            new = [t for t in tables.values() if t.num_rows] or [next(iter(tables.values()))]
            # one contiguous table: 500 one-site tables written as 500 chunks would make 500
            # tiny row groups
            incoming = _plain(
                pa.concat_tables(new, promote_options="permissive") if len(new) > 1 else new[0]
            ).combine_chunks()
            name = f"{PART_PREFIX}{time.time_ns():020d}-{uuid.uuid4().hex[:8]}{PART_SUFFIX}"
            path = f"{self.day_dir(asset, day)}/{name}"
            marker = f"{self.day_dir(asset, day)}/{PENDING}"
            if older:
                self.fs.create_dir(self.day_dir(asset, day), recursive=True)
                with self.fs.open_output_stream(marker):
                    pass
            written = self._write_file(path, incoming, sorted(tables), held)
            # the older parts give up every site a newer part holds (this chunk's, and any a
            # killed writer left behind in two parts)
            claimed = set(tables)
            for part, sites in older:
                taken = claimed.intersection(sites)
                claimed.update(sites)
                if not taken:
                    continue
                _still_held(held)
                left = [s for s in sites if s not in taken]
                if not left:
                    self.fs.delete_file(part)
                    continue
                table = self._read_or_quarantine(part)
                if table is None:  # its other sites are lost to the history: healed by the owner
                    continue
                keep = pc.invert(pc.is_in(_ids(table), value_set=pa.array(sorted(taken))))
                self._write_file(part, table.filter(keep), left, held)
            if older:
                self.fs.delete_file(marker)
            return written

    def _write_file(self, final: str, table: pa.Table, sites: list[str], held=None) -> int:
        metadata = {**(table.schema.metadata or {}), SITES_KEY: json.dumps(sites).encode()}
        table = table.replace_schema_metadata(metadata)
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
    def _index(self, asset: str, day: str) -> list[tuple[str, list[str]]]:
        """(part, the sites it holds) of the day, newest first: only the parts' footers read."""
        index = []
        for part in reversed(self.parts(asset, day)):
            try:
                metadata = pq.read_schema(part, filesystem=self.fs).metadata or {}
            except FileNotFoundError:  # cleaned up by a writer since it was listed
                continue
            except UNREADABLE as exc:  # truncated or garbled: aside, and on without it
                self.quarantine(part, f"{type(exc).__name__}: {exc}")
                continue
            raw = metadata.get(SITES_KEY)
            if raw:
                sites = json.loads(raw)
            else:
                table = self._read_or_quarantine(part)
                if table is None:
                    continue
                sites = sorted(set(_ids(table).to_pylist()))
            index.append((part, sites))
        return index

    def _read(self, part: str, columns: Sequence[str] | None = None) -> pa.Table:
        return pq.read_table(part, filesystem=self.fs, columns=columns)

    def _read_or_quarantine(
        self, part: str, columns: Sequence[str] | None = None
    ) -> pa.Table | None:
        """The part's rows (of `columns`, or all), or None when it is gone or unreadable (then
        moved aside)."""
        try:
            return self._read(part, columns) if columns else self._read(part)
        except FileNotFoundError:
            return None
        except UNREADABLE as exc:
            self.quarantine(part, f"{type(exc).__name__}: {exc}")
            return None

    def _owned(
        self,
        asset: str,
        day: str,
        sites: Sequence[str] | None = None,
        columns: Sequence[str] | None = None,
    ):
        """[(part, its rows of the sites it is the newest part of)] for the day (every site the
        day holds, or only `sites`; every column, or `columns` and `site_id`): one filter a
        part, whatever the number of sites, and none where the part gives all it holds."""
        wanted = None if sites is None else set(sites)
        owner: dict[str, str] = {}
        holds: dict[str, int] = {}
        for part, held in self._index(asset, day):
            holds[part] = len(set(held))
            for site in held:
                if site not in owner and (wanted is None or site in wanted):
                    owner[site] = part
        by_part: dict[str, list[str]] = {}
        for site, part in owner.items():
            by_part.setdefault(part, []).append(site)
        if columns is not None:
            columns = list(dict.fromkeys(["site_id", *columns]))
        out = []
        for part, part_sites in by_part.items():
            table = self._read_or_quarantine(part, columns)
            if table is None:  # its sites are missing: the reader says so, the owner heals
                continue
            if len(part_sites) < holds[part]:  # a newer part holds some of its sites
                table = table.filter(pc.is_in(_ids(table), value_set=pa.array(sorted(part_sites))))
            out.append((part_sites, table))
        return out

    def _read_day(self, asset: str, day: str, sites: Sequence[str] | None = None):
        """{site id: its rows} of the day from the newest part holding each site (every site
        the day holds, or only `sites`)."""
        out: dict[str, pa.Table] = {}
        for part_sites, table in self._owned(asset, day, sites):
            if len(part_sites) == 1:
                out[part_sites[0]] = table
                continue
            ids = _ids(table)
            for site in part_sites:
                out[site] = table.filter(pc.equal(ids, site))
        return out

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
            rows = self._read_day(asset, day, sites)
            for site in sites:
                if site in rows:
                    found[(day, site)] = rows[site]
                else:
                    missing.append((day, site))
        return found, missing

    def read_days(
        self,
        asset: str,
        days: Sequence[str],
        columns: Sequence[str] | None = None,
        sites: Sequence[str] | None = None,
    ) -> tuple[pa.Table | None, list[str]]:
        """Every site's rows of the given days (or only `sites`'; every column, or `columns`
        and `site_id`), and the days not held."""
        tables, missing = [], []
        for day in days:
            owned = self._owned(asset, day, sites=sites, columns=columns)
            if not owned:
                missing.append(day)
            tables.extend(t for _, t in owned if t.num_rows)
        if not tables:
            return None, missing
        return pa.concat_tables(tables, promote_options="permissive"), missing

    def dataset(self, asset: str) -> ds.Dataset | None:
        """The asset's whole history as one dataset (its rows carry their `day`, or `ts`, so
        the directories' names are not read as a column); None before anything was written."""
        files, pending = self.files(asset)
        parts = []
        if files:
            parts.append(ds.dataset(files, filesystem=self.fs, format="parquet"))
        if pending:
            table, _ = self.read_days(asset, pending)
            if table is not None:
                if parts:
                    table = table.select(parts[0].schema.names).cast(parts[0].schema)
                parts.append(ds.dataset(table))
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else ds.dataset(parts)


def _asset_day(relative: str) -> tuple[str, str]:
    """(asset, day) of a path relative to the root: asset=<a>/day=<d>/…"""
    parts = relative.split("/")
    asset = next((p.removeprefix("asset=") for p in parts if p.startswith("asset=")), "")
    day = next((p.removeprefix("day=") for p in parts if p.startswith("day=")), "")
    return asset, day


def _part_order(path: str) -> tuple[int, str]:
    """Parts sort by the time in their names; `part-0` (the earlier layout) is the oldest."""
    stem = path.rsplit("/", 1)[-1].removeprefix(PART_PREFIX).removesuffix(PART_SUFFIX)
    number = stem.split("-", 1)[0]
    return (int(number) if number.isdigit() else 0, stem)


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
