"""Per-partition metadata for a run over a range of site-days, added in one step."""

from unittest import mock

import dagster as dg
import pytest

from wanperf_dagster.dagster_io import metadata as meta_module
from wanperf_dagster.dagster_io.metadata import add_partition_metadata
from wanperf_dagster.dagster_io.partitions import run_partition_keys
from wanperf_dagster.dagster_io.resources import WanperfSettings

pytestmark = [pytest.mark.dagster]

DAYS = dg.DailyPartitionsDefinition(start_date="2026-11-01")
SITES = dg.DynamicPartitionsDefinition(name="test_pm_site")
SITE_DAY = dg.MultiPartitionsDefinition({"day": DAYS, "site": SITES})
SITE_NAMES = [f"s{i:03d}" for i in range(60)]


def _key(site: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"day": "2026-11-02", "site": site})


def _run(asset_fn, instance=None):
    instance = instance or dg.DagsterInstance.ephemeral()
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


PATCHED = WanperfSettings(dagster_patches=["partition_metadata"])
STOCK = WanperfSettings(partition_metadata_limit=len(SITE_NAMES))  # the public call for each


def _per_site(settings):
    @dg.asset(partitions_def=SITE_DAY, name="per_site")
    def per_site(context: dg.AssetExecutionContext) -> None:
        add_partition_metadata(
            context,
            "per_site",
            {
                k: {"site": k.keys_by_dimension["site"], "n": i}
                for i, k in enumerate(context.partition_keys)
            },
            settings,
        )
        # a second call merges into what the first one added
        add_partition_metadata(
            context, "per_site", {context.partition_keys[0]: {"extra": 1}}, settings
        )

    return per_site


def _enumerations():
    return mock.patch.object(
        dg.MultiPartitionsDefinition,
        "get_partition_keys_in_range",
        autospec=True,
        side_effect=dg.MultiPartitionsDefinition.get_partition_keys_in_range,
    )


@pytest.mark.parametrize("settings", [STOCK, PATCHED], ids=["stock", "patched"])
def test_each_partition_gets_its_own_metadata(settings):
    result = _run(_per_site(settings))
    assert result.success
    events = {e.partition: e.metadata for e in result.asset_materializations_for_node("per_site")}
    assert len(events) == len(SITE_NAMES)
    for i, site in enumerate(SITE_NAMES):
        got = events[_key(site)]
        assert got["site"].value == site and got["n"].value == i
    assert events[_key(SITE_NAMES[0])]["extra"].value == 1
    assert "extra" not in events[_key(SITE_NAMES[1])]


def test_stock_by_default_the_patch_batches():
    """Dagster's public call without the patch, in a run within the limit: every partition
    re-enumerates the run's range (the cost of a chunk run grows with the square of the chunk,
    the #14 regression); with the patch on, the pinned Dagster takes the batched path: a
    handful for the run itself."""
    with _enumerations() as spy:
        assert _run(_per_site(STOCK)).success
    assert spy.call_count >= len(SITE_NAMES), spy.call_count
    with _enumerations() as spy:
        assert _run(_per_site(PATCHED)).success
    assert spy.call_count < len(SITE_NAMES) // 4, spy.call_count


@pytest.mark.parametrize("settings", [None, WanperfSettings()], ids=["none", "default"])
def test_a_run_over_the_limit_on_stock_dagster_says_why_its_figures_are_not_there(settings):
    """Stock Dagster's call costs the org's size each time (0.3 s at 20,000 sites): a chunk of
    500 would take minutes. Over the limit (20 by default; this run has 60), each partition gets
    one line saying why, without listing the range once per partition."""
    instance = dg.DagsterInstance.ephemeral()
    with _enumerations() as spy:
        result = _run(_per_site(settings), instance)
    assert result.success
    assert spy.call_count < len(SITE_NAMES) // 4, spy.call_count
    events = {e.partition: e.metadata for e in result.asset_materializations_for_node("per_site")}
    assert len(events) == len(SITE_NAMES)
    for got in events.values():
        assert "n" not in got and "extra" not in got
        note = got[meta_module.LEFT_OUT].value
        assert "run of 60 site-days" in note and "LIMIT=20" in note
        assert "partition_metadata" in note
    logged = [
        e.user_message
        for e in instance.all_logs(result.run_id)
        if "per_site: per-partition metadata" in e.user_message
    ]
    assert len(logged) == 2, logged  # once per call for the asset


def test_a_run_within_the_limit_gets_each_partitions_metadata_on_stock_dagster():
    result = _run(_per_site(WanperfSettings(partition_metadata_limit=59)))
    assert meta_module.LEFT_OUT in result.asset_materializations_for_node("per_site")[0].metadata
    result = _run(_per_site(WanperfSettings(partition_metadata_limit=60)))
    events = {e.partition: e.metadata for e in result.asset_materializations_for_node("per_site")}
    assert events[_key(SITE_NAMES[3])]["n"].value == 3
    assert all(meta_module.LEFT_OUT not in m for m in events.values())


def test_the_patch_falls_back_to_the_public_call_and_says_so_once(caplog):
    from wanperf_dagster import settings as settings_module

    settings_module._FELL_BACK.discard("partition_metadata")
    fallback = WanperfSettings(dagster_patches=["partition_metadata"], partition_metadata_limit=60)
    with mock.patch.object(meta_module, "_can_batch", return_value=False):
        result = _run(_per_site(fallback))
    assert result.success
    events = {e.partition: e.metadata for e in result.asset_materializations_for_node("per_site")}
    assert events[_key(SITE_NAMES[7])]["n"].value == 7
    assert events[_key(SITE_NAMES[0])]["extra"].value == 1
    said = [r for r in caplog.records if "partition_metadata is on" in r.getMessage()]
    assert len(said) == 1 and "stock path" in said[0].getMessage()


@dg.asset(partitions_def=SITE_DAY)
def strays(context: dg.AssetExecutionContext) -> None:
    other_day = dg.MultiPartitionKey({"day": "2026-11-03", "site": SITE_NAMES[0]})
    add_partition_metadata(context, "strays", {other_day: {"n": 1}})


def test_a_partition_outside_the_run_is_refused():
    result = _run(strays)
    assert not result.success
    error = result.failure_data_for_node("strays").error
    assert "does not target" in error.message and "2026-11-03" in error.message


def test_a_circuit_table_types_its_columns_as_arrow_would():
    """The table's schema is read from the dtypes; it names each type as the Arrow schema of
    the converted rows would (`readable_type`), and the records hold plain values."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    frame = pd.DataFrame(
        {
            "circuit_id": pd.Categorical(["a:ge-0/0/0", "b:ge-0/0/1"]),
            "site_name": ["Lyon", None],
            "flaps": np.array([3, 0], dtype=np.int64),
            "down_seconds": pd.array([61, None], dtype="Int64"),
            "availability_pct": [99.929, np.nan],
            "congested": [True, False],
            "skipped": [1, 2],
        }
    )
    columns = ["circuit_id", "site_name", "flaps", "down_seconds", "availability_pct", "congested"]
    table = meta_module.circuit_table(frame, [*columns, "not_there"], 5).value
    whole = frame[columns].head(1)  # a nullable int with a gap cannot be converted to int64
    converted = whole.astype(meta_module._plain_types(whole))
    arrow = pa.Schema.from_pandas(converted, preserve_index=False)
    assert [(c.name, c.type) for c in table.schema.columns] == [
        (f.name, meta_module.readable_type(f.type)) for f in arrow
    ]
    assert [c.type for c in table.schema.columns] == [
        "string",
        "string",
        "int",
        "int",
        "float",
        "bool",
    ]
    assert table.records[0].data == {
        "circuit_id": "a:ge-0/0/0",
        "site_name": "Lyon",
        "flaps": 3,
        "down_seconds": 61,
        "availability_pct": 99.93,
        "congested": True,
    }
    assert table.records[1].data["down_seconds"] is None
    assert table.records[1].data["site_name"] is None


def test_a_step_enumerates_its_partition_keys_once():
    """`run_partition_keys` reads the dynamic site partitions once a step, however often the
    asset asks (Dagster's `context.partition_keys` reads them on every call: 20,000 keys a time
    at 20,000 sites), and a second step enumerates its own."""
    seen = {}

    def _asset(name):
        @dg.asset(partitions_def=SITE_DAY, name=name)
        def asks_three_times(context: dg.AssetExecutionContext) -> None:
            reads = mock.patch.object(
                dg.DagsterInstance,
                "get_dynamic_partitions",
                autospec=True,
                side_effect=dg.DagsterInstance.get_dynamic_partitions,
            )
            with reads as counted:
                first = run_partition_keys(context)
                again = [run_partition_keys(context) for _ in range(2)]
            seen[name] = (first, again, counted.call_count, list(context.partition_keys))

        return asks_three_times

    assert _run_many([_asset("first_step"), _asset("second_step")]).success
    for name in ("first_step", "second_step"):
        first, again, reads, dagsters = seen[name]
        assert first == dagsters and len(first) == len(SITE_NAMES)
        assert all(keys == first for keys in again)
        assert reads == 1, f"{name}: the site partitions were read {reads} times"


def _run_many(assets):
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("test_pm_site", SITE_NAMES)
    return dg.materialize(
        assets,
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": _key(SITE_NAMES[0]),
            "dagster/asset_partition_range_end": _key(SITE_NAMES[-1]),
        },
        raise_on_error=False,
    )
