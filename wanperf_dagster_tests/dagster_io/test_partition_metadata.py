"""Per-partition metadata for a run over a range of site-days, added in one step."""

from unittest import mock

import dagster as dg
import pytest

from wanperf_dagster.dagster_io import metadata as meta_module
from wanperf_dagster.dagster_io.metadata import add_partition_metadata

pytestmark = [pytest.mark.dagster]

DAYS = dg.DailyPartitionsDefinition(start_date="2026-11-01")
SITES = dg.DynamicPartitionsDefinition(name="test_pm_site")
SITE_DAY = dg.MultiPartitionsDefinition({"day": DAYS, "site": SITES})
SITE_NAMES = [f"s{i:03d}" for i in range(60)]


def _key(site: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"day": "2026-11-02", "site": site})


def _run(asset_fn):
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("test_pm_site", SITE_NAMES)
    return dg.materialize(
        [asset_fn],
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": _key(SITE_NAMES[0]),
            "dagster/asset_partition_range_end": _key(SITE_NAMES[-1]),
        },
        raise_on_error=False,
    )


@dg.asset(partitions_def=SITE_DAY)
def per_site(context: dg.AssetExecutionContext) -> None:
    add_partition_metadata(
        context,
        "per_site",
        {
            k: {"site": k.keys_by_dimension["site"], "n": i}
            for i, k in enumerate(context.partition_keys)
        },
    )
    # a second call merges into what the first one added
    add_partition_metadata(context, "per_site", {context.partition_keys[0]: {"extra": 1}})


def test_each_partition_gets_its_own_metadata():
    result = _run(per_site)
    assert result.success
    events = {e.partition: e.metadata for e in result.asset_materializations_for_node("per_site")}
    assert len(events) == len(SITE_NAMES)
    for i, site in enumerate(SITE_NAMES):
        got = events[_key(site)]
        assert got["site"].value == site and got["n"].value == i
    assert events[_key(SITE_NAMES[0])]["extra"].value == 1
    assert "extra" not in events[_key(SITE_NAMES[1])]


def test_the_pinned_dagster_takes_the_batched_path():
    """Without the batched path, every partition re-enumerates the run's range: the cost of the
    chunk runs grows with the square of the chunk (the #14 regression)."""
    enumerations = mock.patch.object(
        dg.MultiPartitionsDefinition,
        "get_partition_keys_in_range",
        autospec=True,
        side_effect=dg.MultiPartitionsDefinition.get_partition_keys_in_range,
    )
    with enumerations as spy:
        assert _run(per_site).success
    # a handful for the run itself, not one per partition
    assert spy.call_count < len(SITE_NAMES) // 4, spy.call_count


def test_the_public_fallback_gives_the_same_metadata():
    with mock.patch.object(meta_module, "_can_batch", return_value=False):
        result = _run(per_site)
    assert result.success
    events = {e.partition: e.metadata for e in result.asset_materializations_for_node("per_site")}
    assert events[_key(SITE_NAMES[7])]["n"].value == 7
    assert events[_key(SITE_NAMES[0])]["extra"].value == 1


@dg.asset(partitions_def=SITE_DAY)
def strays(context: dg.AssetExecutionContext) -> None:
    other_day = dg.MultiPartitionKey({"day": "2026-11-03", "site": SITE_NAMES[0]})
    add_partition_metadata(context, "strays", {other_day: {"n": 1}})


def test_a_partition_outside_the_run_is_refused():
    result = _run(strays)
    assert not result.success
    error = result.failure_data_for_node("strays").error
    assert "does not target" in error.message and "2026-11-03" in error.message
