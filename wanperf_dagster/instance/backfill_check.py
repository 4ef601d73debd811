"""The backfill daemon's check that a backfill's partitions still exist, without building every
partition key of a day x site asset on each of its iterations.

Each iteration of an asset backfill, Dagster 1.13.27 checks every targeted asset's partitions
against `partitions_def.subset_with_all_partitions()`
(`asset_backfill._check_target_partitions_subset_is_valid`): for a day x site asset that is every
day of the window times every site, built afresh as `MultiPartitionKey`s for each of the eight
site-day assets. At 20,000 sites and 30 days tracemalloc found 345,000 of them alive at once in
the daemon (97 MiB), and the daemon at 1.1 GiB.

A multi-dimensional key exists exactly when each of its dimension keys does, so for a
`MultiPartitionsDefinition` this checks the target's distinct keys of each dimension (one day, the
chunk's sites) against that dimension's keys, listed once. Other definitions (days, weeks,
months: a few hundred keys) keep Dagster's own check. The error and its message are Dagster's.
"""

from __future__ import annotations

import functools

import dagster as dg

from wanperf_dagster.settings import patch_unavailable

try:  # the private names this relies on; without them, Dagster's own check runs
    from dagster._core.errors import DagsterDefinitionChangedDeserializationError
    from dagster._core.execution import asset_backfill

    _STOCK = asset_backfill._check_target_partitions_subset_is_valid
    _MISSING = ""
except (ImportError, AttributeError) as exc:  # pragma: no cover - another Dagster
    _MISSING = str(exc)


def removed_keys(partitions_def: dg.MultiPartitionsDefinition, target) -> list[str]:
    """The target's keys that the definition no longer has, in the target's order."""
    keys = [
        k if isinstance(k, dg.MultiPartitionKey) else partitions_def.get_partition_key_from_str(k)
        for k in target.get_partition_keys()
    ]
    missing = {}
    for dimension in partitions_def.partitions_defs:
        wanted = {k.keys_by_dimension[dimension.name] for k in keys}
        gone = wanted - set(dimension.partitions_def.get_partition_keys()) if wanted else set()
        if gone:
            missing[dimension.name] = gone
    return [
        str(k)
        for k in keys
        if any(k.keys_by_dimension[name] in gone for name, gone in missing.items())
    ]


def check_target_partitions(asset_key, asset_graph, target_partitions_subset, instance_queryer):
    """`_check_target_partitions_subset_is_valid`, dimension by dimension for a multi-dimensional
    asset (module docstring); Dagster's own for every other case."""
    if target_partitions_subset and asset_graph.has(asset_key):
        partitions_def = asset_graph.get(asset_key).partitions_def
        if isinstance(partitions_def, dg.MultiPartitionsDefinition):
            removed = removed_keys(partitions_def, target_partitions_subset)
            if removed:
                raise DagsterDefinitionChangedDeserializationError(
                    f"Targeted partitions for asset {asset_key} have been removed since this"
                    f" backfill was stored. The following partitions were removed: {removed}"
                )
            return
    _STOCK(asset_key, asset_graph, target_partitions_subset, instance_queryer)


@functools.cache
def install() -> bool:
    """Use `check_target_partitions` in this process's backfill daemon; whether it is in use (a
    Dagster without what it replaces keeps its own, said once in the log)."""
    if _MISSING:
        patch_unavailable("backfill_check", _MISSING)
        return False
    asset_backfill._check_target_partitions_subset_is_valid = check_target_partitions
    return True
