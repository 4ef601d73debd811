"""Partition keys as Dagster names them, for readers with and without a Dagster instance.

A partition key is Dagster's string for it: a day (`2026-11-26`), a week or month start, or a
site-day (`2026-11-26|<site key>`, what `site_day_key` builds); None is an unpartitioned value.

A **site key** (the `site` partition) is what a person finds in Dagster's partition picker: the
site's name when it was first seen, then its id, `BARCELONA-00002_5c1e0f2a-…` (`site_key`). The id
makes it unique and gives the site back (`site_id_of`); the name in it never changes, so a renamed
site keeps its partitions and history (its current name is in the tables). A bare site id, the
key of partitions made before names, stays valid.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from wanperf_dagster.store.samples import day_of

__all__ = [
    "day_of",  # the UTC day of an epoch second, the `day` of its partitions
    "site_day_key",
    "site_id_of",
    "site_key",
    "site_partition_keys",
    "split_partition_key",
    "split_site_day_key",
]

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_NOT_IN_SLUG = re.compile(r"[^A-Za-z0-9.-]+")
SITE_KEY_SEP = "_"
SLUG_LENGTH = 40


def site_key(name: str | None, site_id: str) -> str:
    """The `site` partition key of a site first seen with this name: `<name>_<site id>`, the name
    reduced to letters, digits, `.` and `-` (at most 40 characters)."""
    ascii_name = unicodedata.normalize("NFKD", name or "").encode("ascii", "ignore").decode()
    slug = _NOT_IN_SLUG.sub("-", ascii_name).strip("-.")[:SLUG_LENGTH].strip("-.")
    return f"{slug or 'site'}{SITE_KEY_SEP}{site_id}"


def site_id_of(key: str) -> str:
    """The site id in a site partition key; a key that is a bare id is its own."""
    _, sep, tail = str(key).rpartition(SITE_KEY_SEP)
    return tail if sep and _UUID.fullmatch(tail) else str(key)


def site_partition_keys(
    site_ids: Sequence[str], names: Sequence[str | None], existing: Sequence[str]
) -> tuple[list[str], list[str]]:
    """(the partition key of each site of an inventory, the keys not yet among `existing`): a
    site that has a partition keeps it, whatever its name is now; a new site gets `site_key`."""
    by_id = {site_id_of(k): k for k in existing}
    keys = [by_id.get(i) or site_key(n, i) for i, n in zip(site_ids, names, strict=True)]
    known = set(existing)
    return keys, [k for k in dict.fromkeys(keys) if k not in known]


def site_day_key(day: str, site: str) -> str:
    """The partition key of one site's day (`site` is its partition key), as Dagster names a
    `day x site` partition."""
    return f"{day}|{site}"


def split_partition_key(key) -> list[str]:
    """The dimension keys of a multi-dimension partition key as Dagster writes it (`day|site`:
    dimensions in name order)."""
    return str(key).split("|")


def split_site_day_key(key: str) -> tuple[str, str]:
    """(day, site key) of a site-day partition key."""
    day, site = str(key).split("|", 1)
    return day, site
