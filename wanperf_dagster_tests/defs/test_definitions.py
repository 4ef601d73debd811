"""The whole code location loads, and every asset spec is complete."""

import dagster as dg

from wanperf_dagster.definitions import defs


def test_definitions_load():
    repo = defs.get_repository_def()
    assert "io_manager" in repo.get_top_level_resources()
    assert "redis" in repo.get_top_level_resources()
    dg.Definitions.validate_loadable(defs)


def test_every_asset_is_described_and_grouped():
    for spec in defs.resolve_all_asset_specs():
        assert spec.description, f"{spec.key} has no description"
        assert spec.group_name and spec.group_name != "default", f"{spec.key} has no group"
        assert spec.owners, f"{spec.key} has no owner"
        assert spec.kinds, f"{spec.key} has no kinds"


def test_redis_url_is_an_env_var_not_a_value(monkeypatch):
    from wanperf_dagster.defs.definitions import build_resources

    monkeypatch.setenv("WANPERF_REDIS_URL", "redis://:hunter2@127.0.0.1:1/0")
    resources = build_resources()
    assert isinstance(resources["redis"].url, dg.EnvVar)
    assert "hunter2" not in repr(resources["redis"])


def test_contract_schemas_are_declared_on_the_per_site_assets():
    specs = {s.key.to_user_string(): s for s in defs.resolve_all_asset_specs()}
    columns = {
        name: [c.name for c in specs[name].metadata["dagster/column_schema"].columns]
        for name in ("site_snapshots", "circuit_kpis", "circuit_kpis_hourly")
    }
    assert (
        columns["site_snapshots"][:3] == ["ts", "site_id", "circuit_id"]
        and "last_flapped" in columns["site_snapshots"]
    )
    assert {"availability_pct", "minutes_above_90", "failover_minutes", "region", "role"} <= set(
        columns["circuit_kpis"]
    )
    assert "hour" in columns["circuit_kpis_hourly"]


def test_rollups_depend_on_their_own_days_not_on_all_history():
    """Each rollup partition maps to the circuit_kpis site-days of its own day, week or month.
    A mapping to every partition makes Dagster enumerate the whole day x site history in every
    rollup run (measured at 400 days x 2,000 sites: 19.4 s and +674 MiB against 8.8 s, +89 MiB)."""
    from dagster._core.definitions.partitions.context import partition_loading_context

    graph = defs.resolve_asset_graph()
    upstream = graph.get(dg.AssetKey("circuit_kpis")).partitions_def
    cases = {
        "region_kpis": ("2025-11-26", 1),
        "org_kpis": ("2025-11-26", 1),
        "top_offenders": ("2025-11-26", 1),
        "congestion_trends": ("2025-11-26", 1),  # its 7-day look-back is read, not declared
        "weekly_circuit_kpis": ("2025-11-24", 7),
        "monthly_circuit_kpis": ("2025-11-01", 30),
    }
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("site", ["a", "b", "c"])
        with partition_loading_context(dynamic_partitions_store=instance):
            for name, (key, days) in cases.items():
                node = graph.get(dg.AssetKey(name))
                mapping = graph.get_partition_mapping(node.key, dg.AssetKey("circuit_kpis"))
                mapped = mapping.get_upstream_mapped_partitions_result_for_partitions(
                    node.partitions_def.empty_subset().with_partition_keys([key]),
                    node.partitions_def,
                    upstream,
                ).partitions_subset.get_partition_keys()
                assert len(mapped) == 3 * days, name
