"""The `wanperf` command end to end (subprocesses, the built-in simulator, a real Redis)."""

import os
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.storage]


def run(args, redis_url, **env):
    base = {k: v for k, v in os.environ.items() if not k.startswith("MIST_")}
    full = {**base, "WANPERF_REDIS_URL": redis_url, "WANPERF_SIM_SITES": "12", **env}
    return subprocess.run(
        [sys.executable, "-m", "wanperf_dagster.cli", *args],
        capture_output=True,
        text=True,
        env=full,
        timeout=120,
    )


def test_sweep_then_status(redis_url, redis_client):
    out = run(["sweep", "--page-limit", "20"], redis_url)
    assert out.returncode == 0, out.stderr
    assert "from the built-in simulator" in out.stdout
    assert "page    1:" in out.stdout and "budget left" in out.stdout
    assert out.stdout.strip().splitlines()[-1].startswith("done: sweep ")
    status = run(["status"], redis_url)
    assert status.returncode == 0, status.stderr
    assert "finished" in status.stdout and "cache: 12 sites" in status.stdout
    assert "calls left this hour" in status.stdout


def test_errors_are_one_clear_line(redis_url):
    out = run(
        ["sweep"],
        redis_url,
        MIST_API_TOKEN="tok-very-secret",
        MIST_HOST="http://127.0.0.1:9",
        MIST_ORG_ID="o1",
    )
    assert out.returncode == 2
    assert out.stderr.startswith("wanperf: GET /api/v1/orgs/o1/stats/ports/search failed")
    assert "Traceback" not in out.stderr and "tok-very-secret" not in out.stderr + out.stdout


def test_help_has_examples():
    out = subprocess.run(
        [sys.executable, "-m", "wanperf_dagster.cli", "sweep", "--help"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0 and "examples:" in out.stdout


@pytest.fixture
def stored_kpis(redis_client):
    """mist_sites and one day of circuit_kpis in Redis, as the assets store them."""
    import pyarrow as pa

    from wanperf_dagster import kpi
    from wanperf_dagster.simulator import World, build_org
    from wanperf_dagster.store import put_tables
    from wanperf_dagster_tests.sim_samples import world_samples

    world = World(build_org(seed=9, n_sites=6))
    daily = kpi.daily_circuit_kpis(world_samples(world, 1_764_115_200, 24, interval_s=3600), 60)
    sites = [s.id for s in world.org.sites]
    put_tables(
        redis_client,
        ["mist_sites"],
        {None: pa.table({"site_id": sites, "region": ["EMEA"] * 6})},
        None,
    )
    tables = {
        f"2025-11-26|{s}": pa.Table.from_pandas(daily[daily["site_id"] == s], preserve_index=False)
        for s in sites
    }
    put_tables(redis_client, ["circuit_kpis"], tables, None)
    return daily


def test_top_prints_the_worst_circuits(redis_url, stored_kpis):
    out = run(["top", "--kpi", "util_p95_pct", "--day", "2025-11-26", "-n", "3"], redis_url)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "worst 3 circuits by util_p95_pct on 2025-11-26"
    worst = stored_kpis.sort_values("util_p95_pct", ascending=False).iloc[0]
    assert str(worst["circuit_id"]) in lines[2]
    bad = run(["top", "--kpi", "nope", "--day", "2025-11-26"], redis_url)
    assert bad.returncode != 0 and "no KPI column 'nope'" in bad.stderr
    missing = run(["top", "--day", "2020-01-01"], redis_url)
    assert missing.returncode != 0 and "materialize it first" in missing.stderr


def test_export_csv_and_parquet(redis_url, stored_kpis, tmp_path):
    import io

    import pandas as pd

    out = run(
        ["export", "--asset", "circuit_kpis", "--day", "2025-11-26", "--format", "csv"], redis_url
    )
    assert out.returncode == 0, out.stderr
    frame = pd.read_csv(io.StringIO(out.stdout))
    assert len(frame) == len(stored_kpis) and "availability_pct" in frame.columns
    site = str(stored_kpis["site_id"].iloc[0])
    target = tmp_path / "one.parquet"
    out = run(
        [
            "export",
            "--asset",
            "circuit_kpis",
            "--day",
            "2025-11-26",
            "--site",
            site,
            "--format",
            "parquet",
            "--output",
            str(target),
        ],
        redis_url,
    )
    assert out.returncode == 0, out.stderr
    back = pd.read_parquet(target)
    assert set(back["site_id"].astype(str)) == {site}
    assert len(back) == int((stored_kpis["site_id"].astype(str) == site).sum())


def test_the_demo_materializes_every_day_its_replay_touched():
    import datetime as dt

    from wanperf_dagster.demo import days_touched

    now = dt.datetime(2026, 11, 27, 4, 30, tzinfo=dt.UTC)
    # 3 x 24 h back from 04:30 reaches into 2026-11-24: four calendar days
    assert days_touched(3, now, "2026-11-01") == [
        "2026-11-27",
        "2026-11-26",
        "2026-11-25",
        "2026-11-24",
    ]
    assert days_touched(0.1, now, "2026-11-01") == ["2026-11-27"]  # back to 02:06
    assert days_touched(0.25, now, "2026-11-01") == ["2026-11-27", "2026-11-26"]  # to 22:30
    # never before the day partitions start
    assert days_touched(3, now, "2026-11-26") == ["2026-11-27", "2026-11-26"]


def test_the_instance_config_is_sized_to_the_cores(tmp_path):
    import yaml

    from wanperf_dagster.cli import _dagster_home

    config = yaml.safe_load((_dagster_home(tmp_path) / "dagster.yaml").read_text())
    assert config["concurrency"]["runs"]["max_concurrent_runs"] == os.cpu_count()
    # the rest is the project's file as it is: one Mist API caller, the batched event log
    assert config["concurrency"]["pools"]["default_limit"] == 1
    assert config["concurrency"]["runs"]["tag_concurrency_limits"] == [
        {"key": "wanperf/mist-api", "limit": 1}
    ]
    assert config["event_log_storage"]["class"] == "BatchedSqliteEventLogStorage"


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"WANPERF_POLL_INTERVAL": "7"}, "WANPERF_POLL_INTERVAL"),
        ({"WANPERF_POLL_INTERVAL": "0"}, "WANPERF_POLL_INTERVAL"),
        ({"WANPERF_REDIS_URL": "http://:hunter2@h:1/0"}, "WANPERF_REDIS_URL"),
        (
            {"WANPERF_REDIS_URL": "redis://h/12?password=hunter2&x=1", "WANPERF_SIM_SITES": "-1"},
            "WANPERF_SIM_SITES",
        ),
        ({"MIST_HOST": "api.eu.mist.com"}, "MIST_HOST"),
        ({"MIST_HOST": "ftp://x", "MIST_API_TOKEN": "tok-hunter2"}, "MIST_HOST"),
    ],
)
def test_a_bad_setting_is_one_line_before_anything_is_written(redis_url, redis_client, env, names):
    out = run(["sweep"], redis_url, **env)
    assert out.returncode == 2 and out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"wanperf: {names}")
    assert "hunter2" not in out.stderr and "Traceback" not in out.stderr
    assert redis_client.dbsize() == 0  # nothing written


def test_a_bad_start_date_stops_the_replay_before_any_sweep(redis_url, redis_client, tmp_path):
    out = run(
        ["seed", "--days", "0.01"],
        redis_url,
        WANPERF_START_DATE="garbage",
        WANPERF_DATA_DIR=str(tmp_path),
    )
    assert out.returncode == 2 and "WANPERF_START_DATE" in out.stderr
    assert redis_client.dbsize() == 0 and not any(tmp_path.iterdir())
