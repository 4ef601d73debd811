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
