"""`wanperf query` over the history, and `wanperf warehouse` into a DuckDB file and into a real
Postgres database made for the test (and dropped after)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import uuid

import duckdb
import pandas as pd
import pyarrow as pa
import pytest

from wanperf_dagster import kpi
from wanperf_dagster.history import HistoryStore
from wanperf_dagster.simulator import World, build_org
from wanperf_dagster.simulator.samples import world_samples

pytestmark = [pytest.mark.storage, pytest.mark.integration]

DAY0 = 1_764_115_200
DAYS = ["2025-11-26", "2025-11-27"]
PG = "postgresql://postgres@127.0.0.1:5432"


@pytest.fixture
def history_dir(tmp_path):
    """Two days of KPIs and snapshots of a 5-site org in a history directory."""
    world = World(build_org(seed=31, n_sites=5))
    names = {s.id: s.name for s in world.org.sites}
    store = HistoryStore(str(tmp_path / "history"))
    counts = {"circuit_kpis": 0, "site_snapshots": 0}
    for k, day in enumerate(DAYS):
        samples = world_samples(world, DAY0 + k * 86400, 24, interval_s=3600)
        daily = kpi.daily_circuit_kpis(samples, 60, kpi.KpiConfig(site_names=names))
        for asset, frame in (("circuit_kpis", daily), ("site_snapshots", samples)):
            tables = {
                str(s): pa.Table.from_pandas(rows, preserve_index=False)
                for s, rows in frame.groupby("site_id", observed=True)
            }
            store.write_site_days(asset, day, tables)
            counts[asset] += len(frame)
    return tmp_path, counts


def run(args, redis_url, data_dir, **env):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MIST_", "WANPERF_"))}
    full = {
        **base,
        "WANPERF_REDIS_URL": redis_url,
        "WANPERF_DATA_DIR": str(data_dir),
        "WANPERF_START_DATE": "2025-11-01",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "wanperf_dagster.cli", *args],
        capture_output=True,
        text=True,
        env=full,
        timeout=180,
    )


def test_query_prints_writes_and_explains(redis_url, history_dir, tmp_path):
    data_dir, counts = history_dir
    sql = "SELECT day, count(*) AS circuits FROM circuit_kpis GROUP BY day ORDER BY day"
    out = run(["query", sql], redis_url, data_dir)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0].split() == ["day", "circuits"] and lines[1].startswith("2025-11-26")
    assert sum(int(line.split()[1]) for line in lines[1:]) == counts["circuit_kpis"]
    csv = run(
        ["query", "SELECT site_name, rx_bytes FROM circuit_kpis", "--format", "csv"],
        redis_url,
        data_dir,
    )
    frame = pd.read_csv(io.StringIO(csv.stdout))
    assert len(frame) == counts["circuit_kpis"] and frame["site_name"].notna().all()
    target = tmp_path / "q.parquet"
    pq = run(
        ["query", "SELECT * FROM site_snapshots", "--format", "parquet", "-o", str(target)],
        redis_url,
        data_dir,
    )
    assert pq.returncode == 0 and pd.read_parquet(target).shape[0] == counts["site_snapshots"]
    bad = run(["query", "SELECT nope FROM circuit_kpis"], redis_url, data_dir)
    assert bad.returncode != 0 and bad.stderr.startswith("wanperf: the query failed")
    assert len(bad.stderr.strip().splitlines()) == 1


def test_warehouse_into_a_duckdb_file(redis_url, history_dir, tmp_path):
    data_dir, counts = history_dir
    target = tmp_path / "wan.duckdb"
    for _ in range(2):  # a second export replaces, never appends
        out = run(["warehouse", "--to", f"duckdb:{target}"], redis_url, data_dir)
        assert out.returncode == 0, out.stderr
    con = duckdb.connect(str(target), read_only=True)
    for asset, rows in counts.items():
        assert con.execute(f'SELECT count(*) FROM "{asset}"').fetchone()[0] == rows
    assert con.execute("SELECT count(DISTINCT day) FROM circuit_kpis").fetchone()[0] == 2


@pytest.fixture
def pg_database():
    psycopg2 = pytest.importorskip("psycopg2")
    name = f"wanperf_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg2.connect(f"{PG}/test", connect_timeout=3)
    except psycopg2.OperationalError as exc:
        pytest.skip(f"no Postgres at 127.0.0.1:5432 ({str(exc).splitlines()[0]})")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    yield f"{PG}/{name}"
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.close()


def test_warehouse_into_postgres(redis_url, history_dir, pg_database):
    import psycopg2

    data_dir, counts = history_dir
    for _ in range(2):
        out = run(["warehouse", "--to", pg_database], redis_url, data_dir)
        assert out.returncode == 0, out.stderr
    with psycopg2.connect(pg_database) as conn, conn.cursor() as cur:
        for asset, rows in counts.items():
            cur.execute(f'SELECT count(*) FROM "{asset}"')
            assert cur.fetchone()[0] == rows
        cur.execute("SELECT sum(rx_bytes), count(DISTINCT site_name) FROM circuit_kpis")
        total, sites = cur.fetchone()
        cur.execute(
            "SELECT data_type FROM information_schema.columns"
            " WHERE table_name = 'site_snapshots' AND column_name = 'ts'"
        )
        assert cur.fetchone()[0] == "timestamp with time zone"
    assert sites == 5 and total > 0
