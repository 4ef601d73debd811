"""The whole code location loads from its defs folder, lists what it always listed, and every
asset spec is complete."""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from wanperf_dagster.definitions import build_resources, defs
from wanperf_dagster.settings import Settings

PROJECT = Path(__file__).resolve().parents[2]

# what the code location holds; the nightly and rolling backfills were two schedules that added
# backfills through private APIs, and are now one automation sensor (kpi_backfills)
EXPECTED = {
    "assets": {
        "mist_sites",
        "raw_port_stats",
        "raw_wan_insights",
        "port_events",
        "site_sle",
        "site_sle_hourly",
        "vpn_path_kpis",
        "gateway_status",
        "site_wan_health",
        "wan_status_now",
        "wan_alerts",
        "site_snapshots",
        "circuit_kpis",
        "circuit_kpis_hourly",
        "region_kpis",
        "org_kpis",
        "top_offenders",
        "congestion_trends",
        "weekly_circuit_kpis",
        "monthly_circuit_kpis",
        "circuit_trends_13m",
        "circuit_baselines",
        "sla_report",
        "sla_outages",
    },
    "asset_checks": {
        "raw_port_stats:sweep_complete",
        "raw_wan_insights:feeds_clean",
        "raw_port_stats:freshness_check",
        "site_snapshots:no_duplicate_samples",
        "circuit_kpis:kpi_bounds",
        "circuit_kpis:events_agree_with_samples",
        "circuit_trends_13m:history_intact",
        "circuit_kpis:coverage",
        "gateway_status:status_read",
    },
    "jobs": {"sweep_job", "inventory_job", "stale_site_refresh_job", "prune_runs_job"},
    "schedules": {"sweep_every_poll_interval", "inventory_hourly", "prune_runs_nightly"},
    "sensors": {
        "site_partitions_sensor",
        "stale_site_refresh_sensor",
        "freshness_checks_sensor",
        "kpi_backfills",
    },
    "resources": {"redis", "io_manager", "mist", "settings"},
}


def test_definitions_load():
    loaded = defs()
    repo = loaded.get_repository_def()
    assert "io_manager" in repo.get_top_level_resources()
    assert "redis" in repo.get_top_level_resources()
    dg.Definitions.validate_loadable(loaded)


def test_dg_lists_every_definition_of_the_defs_folder():
    """`dg list defs`, as a newcomer runs it, prints the code location's definitions."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIST_")}
    out = subprocess.run(
        [str(Path(sys.executable).parent / "dg"), "list", "defs", "--json"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    listed = json.loads(out.stdout)

    def names(kind: str) -> set[str]:
        keys = {"assets": "asset_key", "asset_checks": "key"}.get(kind, "name")
        return {str(item[keys]) for item in listed[kind]}

    for kind, expected in EXPECTED.items():
        assert names(kind) == expected, kind


def test_each_domain_folder_holds_its_assets_and_their_automation():
    """A newcomer opening defs/<domain>/ finds the assets, their checks and their automation;
    a feed's site-day KPIs (group `kpis`) sit in its folder of wanperf_dagster/feeds/, beside its
    fetch and its maths."""
    graph = defs().resolve_asset_graph()
    for node in graph.asset_nodes:
        path = Path(node.metadata["dagster/code_references"].code_references[0].file_path)
        where = f"{path.parent.parent.name}/{path.parent.name}"
        if node.group_name == "kpis":
            assert path.parent.parent.name == "feeds" and path.name == "assets.py", (
                node.key,
                where,
            )
        else:
            assert where == f"defs/{node.group_name}", (node.key, where)


def test_every_asset_is_described_and_grouped():
    for spec in defs().resolve_all_asset_specs():
        assert spec.description, f"{spec.key} has no description"
        assert spec.group_name and spec.group_name != "default", f"{spec.key} has no group"
        assert spec.owners, f"{spec.key} has no owner"
        assert spec.kinds, f"{spec.key} has no kinds"


def test_secrets_are_env_vars_not_values():
    settings = Settings.from_env(
        {"WANPERF_REDIS_URL": "redis://:hunter2@127.0.0.1:1/0", "MIST_API_TOKEN": "tok-sec,tok-2"}
    )
    resources = build_resources(settings)
    assert isinstance(resources["redis"].url, dg.EnvVar)
    assert isinstance(resources["mist"].api_token, dg.EnvVar)
    shown = repr(resources) + repr(settings)
    assert "hunter2" not in shown and "tok-sec" not in shown


def test_the_alert_receivers_secrets_reach_dagster_as_env_vars_and_route_as_set():
    key = "K" * 32
    env = {
        "WANPERF_ALERT_PAGERDUTY_KEYS": key,
        "WANPERF_ALERT_SMTP_URL": "smtp://alerts@relay.example",
        "WANPERF_ALERT_SMTP_PASSWORD": "mail-pw-9",
        "WANPERF_ALERT_EMAIL_TO": "noc@example.com",
        "WANPERF_ALERT_EMAIL_FROM": "wanperf@example.com",
        "WANPERF_ALERT_ROUTES": "pagerduty: severity=critical",
    }
    settings = Settings.from_env(env)
    resource = build_resources(settings)["settings"]
    assert isinstance(resource.alert_pagerduty_keys, dg.EnvVar)
    assert isinstance(resource.alert_smtp_password, dg.EnvVar)
    assert key not in repr(resource) and "mail-pw-9" not in repr(resource)
    # as Dagster hands it to an asset, the variables resolved: the same receivers as the CLI's
    resolved = resource.model_copy(
        update={"alert_pagerduty_keys": key, "alert_smtp_password": "mail-pw-9"}
    )
    made = {d.name: d for d in resolved.alert_destinations()}
    assert set(made) == {"pagerduty #1", "email #1"}
    assert made["pagerduty #1"].secret == key and made["email #1"].email.password == "mail-pw-9"
    assert made["pagerduty #1"].route.severities == {"critical"} and made["email #1"].route is None


@pytest.mark.parametrize("asset", ["site_snapshots", "circuit_kpis", "org_kpis"])
def test_the_backfill_automation_is_on_the_kpis_and_day_rollups(asset):
    spec = {s.key.to_user_string(): s for s in defs().resolve_all_asset_specs()}[asset]
    assert spec.automation_condition is not None
    assert "nightly" in str(spec.automation_condition.get_label() or "")


def test_contract_schemas_are_declared_on_the_per_site_assets():
    specs = {s.key.to_user_string(): s for s in defs().resolve_all_asset_specs()}
    columns = {
        name: [c.name for c in specs[name].metadata["dagster/column_schema"].columns]
        for name in (
            "site_snapshots",
            "circuit_kpis",
            "circuit_kpis_hourly",
            "port_events",
            "site_sle",
            "vpn_path_kpis",
        )
    }
    assert (
        columns["site_snapshots"][:3] == ["ts", "site_id", "circuit_id"]
        and "last_flapped" in columns["site_snapshots"]
    )
    assert {"availability_pct", "minutes_above_90", "failover_minutes", "region", "role"} <= set(
        columns["circuit_kpis"]
    )
    assert "hour" in columns["circuit_kpis_hourly"]
    assert {"down_seconds", "state_source"} <= set(columns["circuit_kpis"])
    assert columns["port_events"][:3] == ["ts", "site_id", "circuit_id"]
    assert {"wan_link_health", "wan_link_health_band"} <= set(columns["site_sle"])
    assert {"path_id", "mos_min", "loss_p95_pct"} <= set(columns["vpn_path_kpis"])


def test_rollups_depend_on_their_own_days_not_on_all_history():
    """Each rollup partition maps to the circuit_kpis site-days of its own day, week or month.
    A mapping to every partition makes Dagster enumerate the whole day x site history in every
    rollup run (measured at 400 days x 2,000 sites: 19.4 s and +674 MiB against 8.8 s, +89 MiB)."""
    from dagster._core.definitions.partitions.context import partition_loading_context

    graph = defs().resolve_asset_graph()
    upstream = graph.get(dg.AssetKey("circuit_kpis")).partitions_def
    cases = {
        "region_kpis": ("2025-11-26", 1),
        "org_kpis": ("2025-11-26", 1),
        "top_offenders": ("2025-11-26", 1),
        "site_wan_health": ("2025-11-26", 1),
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


def test_no_check_of_its_own_watches_a_site_day_asset():
    """A check that is a node of its own (`@asset_check`) and is not partitioned maps to every
    partition of its asset: Dagster lists them all each time it records the check's result, in
    every run that holds it. On a day x site asset that is every chunk run of a backfill, and at
    20,000 sites x 30 days, 600,000 keys a run (23 % of the chunk runs' CPU in a profile). A
    site-day asset's checks are evaluated in the asset's own step (`check_specs`)."""
    graph = defs().resolve_asset_graph()
    for checks in defs().asset_checks or []:
        for key in checks.check_keys:
            partitions = graph.get(key.asset_key).partitions_def
            assert not isinstance(partitions, dg.MultiPartitionsDefinition), key.to_user_string()


def test_the_day_partitions_are_the_hot_window_and_weeks_keep_the_long_view(tmp_path):
    """Unpinned, a deployment whose history began long ago has 35 days and today as day
    partitions (x sites), while weeks and months still reach back to its first day."""
    (tmp_path / "start_date").write_text("2025-01-06")
    env = {k: v for k, v in os.environ.items() if k != "WANPERF_START_DATE"}
    env.update({"WANPERF_DATA_DIR": str(tmp_path), "WANPERF_HOT_DAYS": "35"})
    script = (
        "from wanperf_dagster.dagster_io.partitions import Partitions\n"
        "from wanperf_dagster.settings import get_settings\n"
        "p = Partitions.of(get_settings())\n"
        "days = p.day.get_partition_keys()\n"
        "print(len(days), days[0], p.week.get_partition_keys()[0])"
    )
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    count, first_day, first_week = out.stdout.split()
    import datetime as dt

    today = dt.datetime.now(dt.UTC).date()
    assert int(count) == 36 and first_day == (today - dt.timedelta(days=35)).isoformat()
    assert first_week == "2025-01-06"


def test_the_automation_is_evaluated_as_often_as_the_setting_says(tmp_path):
    script = (
        "from wanperf_dagster.definitions import defs\n"
        "print(defs().get_sensor_def('kpi_backfills').minimum_interval_seconds)"
    )
    seen = []
    for value in (None, "120"):
        env = {**os.environ, "WANPERF_DATA_DIR": str(tmp_path)}
        env.pop("WANPERF_AUTOMATION_INTERVAL", None)
        if value:
            env["WANPERF_AUTOMATION_INTERVAL"] = value
        out = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
        )
        assert out.returncode == 0, out.stderr[-2000:]
        seen.append(int(out.stdout.split()[-1]))
    assert seen == [30, 120]


def test_the_bench_backfill_targets_what_the_nightly_automation_does():
    from harness.backfills import automated_assets

    site_days, days = automated_assets()
    assert site_days == sorted(
        [
            "site_snapshots",
            "circuit_kpis",
            "circuit_kpis_hourly",
            "port_events",
            "site_sle",
            "site_sle_hourly",
            "vpn_path_kpis",
            "gateway_status",
        ]
    )
    assert days == sorted(
        [
            "region_kpis",
            "org_kpis",
            "top_offenders",
            "congestion_trends",
            "site_wan_health",
            "circuit_baselines",
        ]
    )
