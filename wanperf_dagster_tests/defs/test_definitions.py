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
