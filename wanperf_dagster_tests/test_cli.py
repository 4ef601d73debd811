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
    lines = out.stdout.strip().splitlines()
    assert lines[-2].startswith("done: sweep ")
    assert (
        lines[-1].startswith("insights of org ")
        and "(sle, paths, events, devices): 24 SLE hours" in lines[-1]
        and "VPN paths" in lines[-1]
    )
    status = run(["status"], redis_url)
    assert status.returncode == 0, status.stderr
    assert "finished" in status.stdout and "cache: 12 sites" in status.stdout
    assert (
        "insight feeds: SLE fetched up to" in status.stdout
        and "port events covered 20" in status.stdout
    )
    assert "calls left this hour" in status.stdout


def test_errors_are_one_clear_line(redis_url):
    out = run(
        ["sweep"],
        redis_url,
        MIST_API_TOKEN="tok-very-secret",
        MIST_HOST="http://127.0.0.1:9",
        MIST_ORG_ID="0a1e0000-0000-4000-8000-000000000001",
    )
    assert out.returncode == 2
    assert out.stderr.startswith(
        "wanperf: GET /api/v1/orgs/0a1e0000-0000-4000-8000-000000000001/stats/ports/search failed"
    )
    assert "reaching http://127.0.0.1:9 (check MIST_HOST" in out.stderr  # names host and variable
    assert len(out.stderr.strip().splitlines()) == 1
    assert "Traceback" not in out.stderr and "tok-very-secret" not in out.stderr + out.stdout


@pytest.mark.parametrize(
    "command",
    ["dev", "redis", "sweep", "status", "sim", "seed", "export", "top", "daemon", "worker"],
)
def test_every_subcommand_has_a_description_and_an_example(command, tmp_path):
    from wanperf_dagster.cli import build_parser

    sub = build_parser()._subparsers._group_actions[0].choices[command]
    assert sub.description and len(sub.description) > 40
    assert "example" in (sub.epilog or "") and f"wanperf {command}" in sub.epilog
    # and reading the help changes nothing, even with a bad setting around
    out = subprocess.run(
        [sys.executable, "-m", "wanperf_dagster.cli", command, "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "WANPERF_POLL_INTERVAL": "7", "WANPERF_DATA_DIR": str(tmp_path / "d")},
    )
    assert out.returncode == 0 and "example" in out.stdout
    assert not any(tmp_path.iterdir())


def test_the_daemons_passed_on_help_is_dagsters_and_writes_nothing(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "wanperf_dagster.cli", "daemon", "--", "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        # the defaults: with the backfill wake on (CI's Postgres pass turns every patch on) the
        # daemon is wanperf's own, not Dagster's
        env={
            **{k: v for k, v in os.environ.items() if k != "WANPERF_DAGSTER_PATCHES"},
            "WANPERF_DATA_DIR": str(tmp_path / "d"),
        },
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "Usage: dagster-daemon run" in out.stdout and "--workspace" in out.stdout
    assert not any(tmp_path.iterdir())  # no instance config written under the data dir


def test_days_are_read_relative_or_exact():
    import argparse
    import datetime as dt

    from wanperf_dagster.cli import parse_day

    today = dt.date(2026, 11, 27)
    assert parse_day("today", today) == "2026-11-27"
    assert parse_day("yesterday", today) == "2026-11-26"
    assert parse_day("-3", today) == "2026-11-24"
    assert parse_day("2026-02-28", today) == "2026-02-28"
    for bad, says in (("2026-02-30", "not a day"), ("2026-12-01", "future"), ("soon", "not a day")):
        with pytest.raises(argparse.ArgumentTypeError, match=says):
            parse_day(bad, today)


@pytest.fixture
def stored_kpis(redis_client):
    """mist_sites and one day of circuit_kpis in Redis, as the assets store them."""
    import pyarrow as pa

    from wanperf_dagster import kpi
    from wanperf_dagster.simulator import World, build_org
    from wanperf_dagster.simulator.samples import world_samples
    from wanperf_dagster.storage import AssetStore, site_day_key, site_key
    from wanperf_dagster.store import put_tables

    world = World(build_org(seed=9, n_sites=6))
    sites = [s.id for s in world.org.sites]
    names = [s.name for s in world.org.sites]
    config = kpi.KpiConfig(site_names=dict(zip(sites, names, strict=True)))
    samples = world_samples(world, 1_764_115_200, 24, interval_s=3600)
    daily = kpi.daily_circuit_kpis(samples, 60, config)
    inventory = {"site_id": sites, "name": names, "region": ["EMEA"] * 6}
    put_tables(redis_client, ["mist_sites"], {None: pa.table(inventory)}, None)
    # the partitions are keyed by name and id, as the partition sensor makes them
    keys = {s: site_key(n, s) for s, n in zip(sites, names, strict=True)}
    AssetStore(redis_client).register_site_keys(list(keys.values()))
    tables = {
        site_day_key("2025-11-26", keys[s]): pa.Table.from_pandas(
            daily[daily["site_id"] == s], preserve_index=False
        )
        for s in sites
    }
    snapshots = {
        site_day_key("2025-11-26", keys[s]): pa.Table.from_pandas(
            samples[samples["site_id"] == s], preserve_index=False
        )
        for s in sites
    }
    put_tables(redis_client, ["circuit_kpis"], tables, None)
    put_tables(redis_client, ["site_snapshots"], snapshots, None)
    return daily


def test_top_prints_the_worst_circuits_with_their_sites(redis_url, stored_kpis):
    out = run(["top", "--kpi", "util_p95_pct", "--day", "2025-11-26", "-n", "3"], redis_url)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "worst 3 circuits by util_p95_pct on 2025-11-26 (ties by minutes_above_90)"
    assert lines[1].split()[:4] == ["rank", "site_name", "region", "circuit_id"]
    worst = stored_kpis.sort_values("util_p95_pct", ascending=False).iloc[0]
    assert str(worst["circuit_id"]) in lines[2] and str(worst["site_name"]) in lines[2]
    # ties on the KPI are ordered by the second one
    tied = run(["top", "--kpi", "availability_pct", "--day", "2025-11-26", "-n", "40"], redis_url)
    lines = tied.stdout.strip().splitlines()
    assert lines[0].endswith("(ties by down_seconds)") and lines[1].split()[-1] == "down_min"
    rows = [line.split() for line in lines[2:]]
    avail = [(float(r[4]), -float(r[5])) for r in rows]
    assert avail == sorted(avail)
    # the one down figure: the exact seconds, shown in minutes as the dashboard shows them
    first = stored_kpis.set_index(stored_kpis["circuit_id"].astype(str)).loc[rows[0][3]]
    assert float(rows[0][5]) == round(first["down_seconds"] / 60, 2)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--kpi", "nope"], "'nope' is not a KPI of circuit_kpis"),
        (["--kpi", "site_id"], "'site_id' is not a KPI"),
        (["--kpi", "samples"], "'samples' is not a KPI"),
        (["--day", "2020-01-01"], "materialize it first"),
        (["--day", "2026-02-30"], "is not a day"),
        (["-n", "0"], "ask for 1 or more"),
    ],
)
def test_top_explains_what_it_cannot_do(redis_url, stored_kpis, args, says):
    out = run(["top", "--day", "2025-11-26", *args], redis_url)
    assert out.returncode != 0 and says in out.stderr and "Traceback" not in out.stderr
    assert "Empty DataFrame" not in out.stdout


def test_export_csv_and_parquet(redis_url, stored_kpis, tmp_path):
    import io

    import pandas as pd

    out = run(
        ["export", "--asset", "circuit_kpis", "--day", "2025-11-26", "--format", "csv"], redis_url
    )
    assert out.returncode == 0, out.stderr
    frame = pd.read_csv(io.StringIO(out.stdout))
    assert len(frame) == len(stored_kpis) and "availability_pct" in frame.columns
    assert frame["site_name"].notna().all()
    site = str(stored_kpis["site_id"].iloc[0])
    name = str(stored_kpis["site_name"].iloc[0])
    for given in (site, name, name.lower()):  # a site by id or by name, any case
        target = tmp_path / "one.parquet"
        out = run(
            [
                "export",
                "--asset",
                "circuit_kpis",
                "--day",
                "2025-11-26",
                "--site",
                given,
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
    # samples have no names of their own: the export puts the site's name and region beside them
    out = run(
        ["export", "--asset", "site_snapshots", "--day", "2025-11-26", "--site", name], redis_url
    )
    samples = pd.read_csv(io.StringIO(out.stdout))
    assert out.returncode == 0 and list(samples.columns[1:4]) == ["site_id", "site_name", "region"]
    assert set(samples["site_name"]) == {name}
    unknown = run(
        ["export", "--asset", "circuit_kpis", "--day", "2025-11-26", "--site", name[:-1]], redis_url
    )
    assert unknown.returncode != 0 and "did you mean" in unknown.stderr


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


def test_the_instance_config_is_sized_to_the_cores(tmp_path, monkeypatch):
    import yaml

    from wanperf_dagster.cli.common import dagster_home
    from wanperf_dagster.settings import get_settings

    # the defaults, whatever patches the environment turns on (CI's Postgres pass: all)
    monkeypatch.delenv("WANPERF_DAGSTER_PATCHES", raising=False)
    get_settings.cache_clear()
    try:
        config = yaml.safe_load((dagster_home(tmp_path) / "dagster.yaml").read_text())
    finally:
        get_settings.cache_clear()
    assert config["concurrency"]["runs"]["max_concurrent_runs"] == os.cpu_count()
    # the rest is the project's file as it is: one Mist API caller, Dagster's own event log
    assert config["concurrency"]["pools"]["default_limit"] == 1
    assert config["concurrency"]["runs"]["tag_concurrency_limits"] == [
        {"key": "wanperf/mist-api", "limit": 1}
    ]
    assert "event_log_storage" not in config


def test_the_batched_event_log_only_when_its_patch_is_on(tmp_path):
    """Stock Dagster by default; WANPERF_DAGSTER_PATCHES=event_log selects the batched event
    log, on SQLite and on Postgres; and a Dagster without what it extends gets the stock one,
    said once in the log."""
    from unittest import mock

    from wanperf_dagster import settings as settings_module
    from wanperf_dagster.instance import event_log
    from wanperf_dagster.instance.config import instance_config
    from wanperf_dagster.settings import Settings

    on = {"WANPERF_DAGSTER_PATCHES": "event_log"}
    assert "event_log_storage" not in instance_config(Settings.from_env({}))
    config = instance_config(Settings.from_env(on))
    assert config["event_log_storage"]["class"] == "BatchedSqliteEventLogStorage"
    pg = {**on, "WANPERF_DAGSTER_PG_URL": "postgresql://u@h:5432/d"}
    assert instance_config(Settings.from_env(pg))["event_log_storage"]["class"] == (
        "BatchedPostgresEventLogStorage"
    )
    stock_pg = instance_config(Settings.from_env({"WANPERF_DAGSTER_PG_URL": "postgresql://u@h/d"}))
    assert stock_pg["event_log_storage"]["class"] == "PostgresEventLogStorage"

    class Changed:  # a Dagster whose SQLite storage lost what the batched one calls
        pass

    settings_module._FELL_BACK.discard("event_log")
    with (
        mock.patch.object(event_log, "STOCK_STORAGE", Changed),
        mock.patch.object(settings_module.logging.getLogger("wanperf_dagster"), "warning") as log,
    ):
        assert "event_log_storage" not in instance_config(Settings.from_env(on))
        assert "event_log_storage" not in instance_config(Settings.from_env(on))
    assert log.call_count == 1 and "event_log" in log.call_args[0][1]


@pytest.mark.dagster
def test_the_postgres_instance_from_the_settings(tmp_path, monkeypatch):
    """WANPERF_DAGSTER_PG_URL: the file names the variable (never the password), the instance
    loads on a database of its own, and its batched event log (the `event_log` patch) turns
    Dagster's event batching on."""
    import socket

    import dagster as dg
    import yaml

    from harness.instance_config import make_postgres_database
    from wanperf_dagster.instance.config import write_instance_config
    from wanperf_dagster.settings import Settings

    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=2).close()
    except OSError:
        pytest.skip("no Postgres on 127.0.0.1:5432")
    monkeypatch.setenv(
        "WANPERF_TEST_DAGSTER_PG_URL",
        os.environ.get("WANPERF_TEST_DAGSTER_PG_URL", "postgresql://postgres@127.0.0.1:5432"),
    )
    url = make_postgres_database().replace("postgres@", "postgres:not-a-real-pw@", 1)
    monkeypatch.setenv("WANPERF_DAGSTER_PG_URL", url)
    monkeypatch.delenv("DAGSTER_EVENT_BATCH_SIZE", raising=False)
    path = write_instance_config(
        tmp_path,
        Settings.from_env({"WANPERF_DAGSTER_PG_URL": url, "WANPERF_DAGSTER_PATCHES": "event_log"}),
    )
    text = path.read_text()
    assert "not-a-real-pw" not in text and "WANPERF_DAGSTER_PG_URL" in text
    config = yaml.safe_load(text)
    assert config["event_log_storage"]["class"] == "BatchedPostgresEventLogStorage"
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert instance.get_runs() == []
        assert os.environ["DAGSTER_EVENT_BATCH_SIZE"] == "1000"


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


def test_the_replay_ingests_the_insight_feeds_slot_by_slot(redis_client):
    """`make run`'s replay brings the WAN insight feeds along: the events of its whole span,
    covered without a gap, the SLE of each hour it completed, a path sample per slot."""
    import time as _time

    from wanperf_dagster import demo
    from wanperf_dagster.sources import in_process_simulator
    from wanperf_dagster.store import insights as feed_store
    from wanperf_dagster.store import keys as store_keys
    from wanperf_dagster.store.samples import day_of

    end = int(_time.time() // 600 * 600)  # as the replay reckons it, an instant later
    n = demo.replay(redis_client, 4, 23, 0.1)  # 2.4 h: 14 or 15 slots
    assert int(redis_client.get(store_keys.demo_replayed_until())) == end - 600  # how far it got
    sim = in_process_simulator(4, 23).sim
    first = end - 600 * n
    coverage = feed_store.event_coverage(redis_client, sim.org.id, 0, 2**40)
    settle = 120  # a window ends that long before the ingestion, for events Mist logs late
    assert len(coverage) == 1 and coverage[0][0] == first + 30 - 600 - settle
    assert coverage[0][1] == end - 600 + 30 - settle  # the last slot's ingestion
    days = sorted({day_of(first - 600), day_of(end)})
    pairs = [(d, s.id) for d in days for s in sim.org.sites]
    paths = feed_store.read_site_days(redis_client, "paths", pairs)
    assert len(paths) == n * len(sim.world.vpn_paths())
    sle = feed_store.read_site_days(redis_client, "sle", pairs)
    assert len(sle) >= 2 * len(sim.org.sites) and sle.groupby("hour").size().eq(4).all()
