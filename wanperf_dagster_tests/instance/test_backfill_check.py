"""`backfill_check`: the daemon's check that a backfill's partitions still exist gives Dagster's
answer for a day x site asset without listing every day x site key."""

import dagster as dg
import pytest
from dagster._core.definitions.partitions.context import partition_loading_context
from dagster._core.errors import DagsterDefinitionChangedDeserializationError
from dagster._core.execution import asset_backfill

from wanperf_dagster.instance import backfill_check

STOCK = backfill_check._STOCK
SITE_DAY = dg.MultiPartitionsDefinition(
    {
        "day": dg.DailyPartitionsDefinition(start_date="2026-11-01", end_date="2026-11-20"),
        "site": dg.DynamicPartitionsDefinition(name="site"),
    }
)


@dg.asset(partitions_def=SITE_DAY)
def per_site_day(): ...


@dg.asset(partitions_def=dg.DailyPartitionsDefinition(start_date="2026-11-01"))
def per_day(): ...


@pytest.fixture
def graph_and_instance():
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("site", ["a", "b", "c"])
        graph = dg.Definitions(assets=[per_site_day, per_day]).resolve_asset_graph()
        with partition_loading_context(dynamic_partitions_store=instance):
            yield graph, instance


def _keys(days, sites):
    return [dg.MultiPartitionKey({"day": d, "site": s}) for d in days for s in sites]


def _outcome(check, graph, key, subset):
    try:
        check(key, graph, subset, None)
    except DagsterDefinitionChangedDeserializationError as exc:
        return str(exc)
    return None


def test_agrees_with_dagster_when_every_partition_exists(graph_and_instance):
    graph, _ = graph_and_instance
    subset = SITE_DAY.subset_with_partition_keys(_keys(["2026-11-05"], ["a", "c"]))
    assert _outcome(STOCK, graph, per_site_day.key, subset) is None
    assert _outcome(backfill_check.check_target_partitions, graph, per_site_day.key, subset) is None


@pytest.mark.parametrize(
    ("days", "deleted", "gone"),
    [
        (["2026-11-05", "2026-11-06"], "b", {"2026-11-05|b", "2026-11-06|b"}),  # a site deleted
        (["2026-11-05", "2026-12-05"], None, {"2026-12-05|a", "2026-12-05|b", "2026-12-05|c"}),
    ],
)
def test_a_removed_site_or_day_fails_the_backfill_as_dagster_does(
    graph_and_instance, days, deleted, gone
):
    graph, instance = graph_and_instance
    subset = SITE_DAY.subset_with_partition_keys(_keys(days, ["a", "b", "c"]))
    if deleted:
        instance.delete_dynamic_partition("site", deleted)
    stock = _outcome(STOCK, graph, per_site_day.key, subset)
    ours = _outcome(backfill_check.check_target_partitions, graph, per_site_day.key, subset)
    assert stock is not None and ours is not None
    assert ours.split("were removed: ")[0] == stock.split("were removed: ")[0]
    listed = ours.split("were removed: ")[1]
    assert {k for k in (s.strip(" '[]") for s in listed.split(",")) if k} == gone


def test_never_lists_every_day_x_site_key(graph_and_instance, monkeypatch):
    graph, _ = graph_and_instance
    subset = SITE_DAY.subset_with_partition_keys(_keys(["2026-11-05"], ["a", "b"]))

    def listing(*args, **kwargs):
        raise AssertionError("every day x site key listed")

    monkeypatch.setattr(dg.MultiPartitionsDefinition, "subset_with_all_partitions", listing)
    monkeypatch.setattr(dg.MultiPartitionsDefinition, "get_partition_keys", listing)
    with pytest.raises(AssertionError, match="every day x site key listed"):
        STOCK(per_site_day.key, graph, subset, None)
    backfill_check.check_target_partitions(per_site_day.key, graph, subset, None)


def test_other_partitions_keep_dagsters_own_check(graph_and_instance, monkeypatch):
    graph, _ = graph_and_instance
    seen = []
    monkeypatch.setattr(backfill_check, "_STOCK", lambda *args: seen.append(args[0]))
    subset = per_day.partitions_def.subset_with_partition_keys(["2026-11-05"])
    backfill_check.check_target_partitions(per_day.key, graph, subset, None)
    backfill_check.check_target_partitions(per_site_day.key, graph, None, None)  # unpartitioned
    assert seen == [per_day.key, per_site_day.key]


def test_install_puts_it_where_the_backfill_daemon_calls_it(monkeypatch):
    monkeypatch.setattr(asset_backfill, "_check_target_partitions_subset_is_valid", STOCK)
    assert backfill_check.install.__wrapped__()
    assert asset_backfill._check_target_partitions_subset_is_valid is (
        backfill_check.check_target_partitions
    )
    # the caller looks it up by name on each call, so the swap is what the daemon runs
    names = asset_backfill._check_asset_backfill_data_validity.__code__.co_names
    assert "_check_target_partitions_subset_is_valid" in names
