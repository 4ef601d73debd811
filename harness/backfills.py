"""A chunked backfill of site-days exactly as the `kpi_backfills` automation sensor emits one
(Dagster's sensor daemon adds `PartitionBackfill.from_asset_graph_subset` of the requested
subset), for tests and benchmarks that submit a backfill at a time of their choosing.

Private Dagster APIs, used here only (tests and bench/), pinned with the Dagster version.
"""

from __future__ import annotations

import time

import dagster as dg
from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset
from dagster._core.execution.backfill import PartitionBackfill

from wanperf_dagster.dagster_io.partitions import Partitions, partitioning, site_day_partition
from wanperf_dagster.settings import get_settings


def automated_assets() -> tuple[list[str], list[str]]:
    """(site-day assets, day rollups) the nightly automation backfills: every day x site and
    every day asset with an automation condition, read from the definitions so the list cannot
    drift from what `kpi_backfills` emits."""
    from wanperf_dagster.definitions import defs

    site_days, days = [], []
    for spec in defs().resolve_all_asset_specs():
        if spec.automation_condition is None:
            continue
        if partitioning(spec.partitions_def) == "site_day":
            site_days.append(spec.key.to_user_string())
        elif partitioning(spec.partitions_def) == "day":
            days.append(spec.key.to_user_string())
    return sorted(site_days), sorted(days)


def add_site_day_backfill(
    instance: dg.DagsterInstance, backfill_id: str, days: list[str], sites: list[str]
) -> None:
    site_day_assets, day_rollups = automated_assets()
    partitions = Partitions.of(get_settings())
    site_days = partitions.site_day.empty_subset().with_partition_keys(
        [site_day_partition(d, s) for d in days for s in sites]
    )
    day_subset = partitions.day.empty_subset().with_partition_keys(days)
    subset = AssetGraphSubset(
        partitions_subsets_by_asset_key={
            **{dg.AssetKey(a): site_days for a in site_day_assets},
            **{dg.AssetKey(a): day_subset for a in day_rollups},
        }
    )
    instance.add_backfill(
        PartitionBackfill.from_asset_graph_subset(
            backfill_id=backfill_id,
            backfill_timestamp=time.time(),
            tags={},
            dynamic_partitions_store=instance,
            asset_graph_subset=subset,
            title=backfill_id,
            description=f"{len(days)} day(s) x {len(sites)} sites",
            run_config=None,
        )
    )
