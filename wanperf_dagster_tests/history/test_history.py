"""The history tier, on a local directory and on an S3-compatible server (moto, in its own
process): site-days round trip exactly, a re-materialized site-day replaces only its rows, two
chunk runs of one day lose nothing, a site-day past Redis's hot window is read from the history,
a crash between the tiers is repaired by the next materialization, and DuckDB answers over it."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from wanperf_dagster import kpi
from wanperf_dagster.history import (
    HistoryStore,
    daily_p95,
    history_connection,
    thirteen_month_trends,
)
from wanperf_dagster.kpi import capacity_forecast
from wanperf_dagster.kpi import forecast as kpi_forecast
from wanperf_dagster.simulator import World, build_org
from wanperf_dagster.simulator.samples import world_samples
from wanperf_dagster.storage import AssetStore, history_datasets, site_day_key, site_key
from wanperf_dagster.store import keys

pytestmark = [pytest.mark.storage]

DAY0 = 1_764_115_200  # 2025-11-26
DAY = "2025-11-26"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint():
    """moto's S3 in server mode, as a separate process on a loopback port."""
    port = _free_port()
    binary = Path(sys.executable).parent / "moto_server"
    proc = subprocess.Popen(
        [str(binary), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    yield endpoint
    proc.kill()
    proc.wait()


@pytest.fixture
def aws_env(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(params=["local", "s3"])
def history(request, tmp_path, redis_client):
    """A HistoryStore on a directory or in a fresh S3 bucket, locked through the real Redis."""

    def lock(asset, day):
        return redis_client.lock(keys.history_lock(asset, day), timeout=60, blocking_timeout=60)

    if request.param == "local":
        return HistoryStore(str(tmp_path / "history"), lock=lock)
    endpoint = request.getfixturevalue("s3_endpoint")
    request.getfixturevalue("aws_env")
    import boto3

    bucket = f"wanperf-{uuid.uuid4().hex[:16]}"  # a valid name, whatever the test's
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    return HistoryStore(f"s3://{bucket}/history", endpoint=endpoint, lock=lock)


@pytest.fixture(scope="module")
def day_kpis():
    world = World(build_org(seed=21, n_sites=6))
    names = {s.id: s.name for s in world.org.sites}
    samples = world_samples(world, DAY0, 24, interval_s=3600)
    hourly, daily = kpi.circuit_kpis(samples, 60, kpi.KpiConfig(site_names=names))
    return samples, daily, hourly, names


def _by_site(frame: pd.DataFrame) -> dict[str, pa.Table]:
    return {
        str(site): pa.Table.from_pandas(rows, preserve_index=False)
        for site, rows in frame.groupby("site_id", observed=True)
    }


def _same(left: pd.DataFrame, right: pd.DataFrame, keys_: list[str]) -> None:
    def norm(f):
        f = f.copy()
        for c in f.columns:
            if isinstance(f[c].dtype, pd.CategoricalDtype):
                f[c] = f[c].astype(str)
        return f.sort_values(keys_).reset_index(drop=True)

    pd.testing.assert_frame_equal(norm(left), norm(right), check_like=True)


def test_site_days_round_trip_exactly(history, day_kpis):
    samples, daily, hourly, _ = day_kpis
    history.write_site_days("site_snapshots", DAY, _by_site(samples))
    history.write_site_days("circuit_kpis", DAY, _by_site(daily))
    history.write_site_days("circuit_kpis_hourly", DAY, _by_site(hourly))
    sites = sorted(daily["site_id"].astype(str).unique())
    found, missing = history.read_site_days("circuit_kpis", [(DAY, s) for s in sites])
    assert not missing and set(found) == {(DAY, s) for s in sites}
    back = pd.concat([t.to_pandas() for t in found.values()], ignore_index=True)
    _same(back, daily, ["circuit_id"])
    assert str(back["rx_bytes"].dtype) == "int64" and str(back["day"].dtype) == "object"
    snaps, _ = history.read_days("site_snapshots", [DAY])
    _same(snaps.to_pandas(), samples, ["ts", "circuit_id"])
    assert snaps.to_pandas()["rx_bytes"].dtype == samples["rx_bytes"].dtype  # types kept
    hours, _ = history.read_days("circuit_kpis_hourly", [DAY])
    _same(hours.to_pandas(), hourly, ["hour", "circuit_id"])
    assert history.days("circuit_kpis") == [DAY]
    # a day never written, a site never written: missing, not empty
    _, missing = history.read_site_days("circuit_kpis", [("2025-11-27", sites[0]), (DAY, "nope")])
    assert missing == [("2025-11-27", sites[0]), (DAY, "nope")]


def test_a_site_day_written_again_replaces_only_its_rows(history, day_kpis):
    _, daily, _, _ = day_kpis
    history.write_site_days("circuit_kpis", DAY, _by_site(daily))
    site = str(daily["site_id"].iloc[0])
    changed = daily[daily["site_id"].astype(str) == site].assign(flaps=999)
    history.write_site_days("circuit_kpis", DAY, _by_site(changed))
    table, _ = history.read_days("circuit_kpis", [DAY])
    back = table.to_pandas()
    assert len(back) == len(daily)  # nothing doubled, nothing lost
    assert (back[back["site_id"].astype(str) == site]["flaps"] == 999).all()
    assert (back[back["site_id"].astype(str) != site]["flaps"] < 999).all()
    # a site materialized empty is held (empty), not missing
    empty = pa.Table.from_pandas(daily.iloc[:0], preserve_index=False)
    history.write_site_days("circuit_kpis", DAY, {site: empty})
    found, missing = history.read_site_days("circuit_kpis", [(DAY, site)])
    assert not missing and found[(DAY, site)].num_rows == 0


def test_two_chunks_of_one_day_written_at_once_lose_nothing(history, day_kpis):
    _, daily, _, _ = day_kpis
    tables = _by_site(daily)
    sites = sorted(tables)
    halves = [
        dict(list(tables.items())[: len(sites) // 2]),
        dict(list(tables.items())[len(sites) // 2 :]),
    ]
    for _ in range(3):
        threads = [
            threading.Thread(target=history.write_site_days, args=("circuit_kpis", DAY, half))
            for half in halves
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    found, missing = history.read_site_days("circuit_kpis", [(DAY, s) for s in sites])
    assert not missing and sum(t.num_rows for t in found.values()) == len(daily)


def test_a_writer_whose_lock_lapsed_is_refused_and_changes_nothing(
    redis_client, tmp_path, day_kpis, monkeypatch
):
    """The history lock is short (a killed writer must not block the next for minutes), so a
    live writer that outlived it must not replace the file another writer may have changed."""
    from redis.exceptions import LockNotOwnedError

    _, daily, _, _ = day_kpis
    key = keys.history_lock("circuit_kpis", DAY)
    history = HistoryStore(
        str(tmp_path / "history"), lock=lambda a, d: redis_client.lock(key, timeout=0.5)
    )
    history.write_site_days("circuit_kpis", DAY, _by_site(daily))
    site = str(daily["site_id"].iloc[0])
    read = HistoryStore._index
    parts_before = history.parts("circuit_kpis", DAY)

    def slow_read(self, asset, day):
        result = read(self, asset, day)
        time.sleep(1.0)  # the lock lapses here, and another writer takes it
        assert redis_client.lock(key, timeout=30).acquire(blocking=False)
        return result

    monkeypatch.setattr(HistoryStore, "_index", slow_read)
    changed = daily[daily["site_id"].astype(str) == site].assign(flaps=999)
    with pytest.raises(LockNotOwnedError):
        history.write_site_days("circuit_kpis", DAY, _by_site(changed))
    monkeypatch.undo()
    table, _ = history.read_days("circuit_kpis", [DAY])
    assert len(table) == len(daily) and 999 not in table.column("flaps").to_pylist()
    leftovers = [p for p in (tmp_path / "history").rglob("*.tmp")]
    assert not leftovers  # the refused write's temporary file is gone
    assert history.parts("circuit_kpis", DAY) == parts_before


def test_a_chunk_is_a_part_of_its_own_and_its_write_reads_no_other_part(
    history, day_kpis, monkeypatch
):
    """A chunk's write costs what the chunk holds, whatever the size of the org: it reads the
    older parts' footers only, unless it takes some but not all of a part's sites."""
    _, daily, _, _ = day_kpis
    tables = _by_site(daily)
    sites = sorted(tables)
    first, second = sites[:3], sites[3:]
    history.write_site_days("circuit_kpis", DAY, {s: tables[s] for s in first})
    reads = []
    read = HistoryStore._read
    monkeypatch.setattr(HistoryStore, "_read", lambda self, p: reads.append(p) or read(self, p))
    history.write_site_days("circuit_kpis", DAY, {s: tables[s] for s in second})
    assert reads == [] and len(history.parts("circuit_kpis", DAY)) == 2
    # the first chunk again: its part is replaced whole (deleted, not read)
    history.write_site_days("circuit_kpis", DAY, {s: tables[s] for s in first})
    assert reads == [] and len(history.parts("circuit_kpis", DAY)) == 2
    # one site of the second chunk again: its part is rewritten without it
    changed = {
        second[0]: pa.Table.from_pandas(
            daily[daily["site_id"].astype(str) == second[0]].assign(flaps=999), preserve_index=False
        )
    }
    history.write_site_days("circuit_kpis", DAY, changed)
    assert len(reads) == 1 and len(history.parts("circuit_kpis", DAY)) == 3
    table, _ = history.read_days("circuit_kpis", [DAY])
    back = table.to_pandas()
    assert len(back) == len(daily)  # nothing doubled, nothing lost
    assert set(back[back["flaps"] == 999]["site_id"].astype(str)) == {second[0]}


def test_a_site_left_in_two_parts_reads_as_the_newest_and_the_next_write_cleans_it(
    history, day_kpis, monkeypatch
):
    """A writer killed after adding its part and before cleaning the older ones leaves a site
    in two parts: every reader (the storage API, `read_days`, DuckDB, the warehouse's dataset)
    takes the newest, and the day's next write takes it out of the older part."""
    from wanperf_dagster.history import parquet

    _, daily, _, _ = day_kpis
    tables = _by_site(daily)
    sites = sorted(tables)
    history.write_site_days("circuit_kpis", DAY, tables)
    site = sites[0]
    newer = pa.Table.from_pandas(
        daily[daily["site_id"].astype(str) == site].assign(flaps=777), preserve_index=False
    )
    checks = []

    def killed_at_cleanup(held):
        checks.append(held)
        if len(checks) > 1:  # the new part is in place; the older part still holds the site
            raise KeyboardInterrupt("killed")

    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(parquet, "_still_held", killed_at_cleanup)
        history.write_site_days("circuit_kpis", DAY, {site: newer})
    assert history.pending("circuit_kpis", DAY) and len(history.parts("circuit_kpis", DAY)) == 2
    found, _ = history.read_site_days("circuit_kpis", [(DAY, site)])
    assert found[(DAY, site)].column("flaps").to_pylist() == [777] * newer.num_rows
    table, _ = history.read_days("circuit_kpis", [DAY])
    assert table.num_rows == len(daily)
    assert history.dataset("circuit_kpis").count_rows() == len(daily)
    with history_connection(history, assets=["circuit_kpis"]) as con:
        assert con.execute("SELECT count(*), max(flaps) FROM circuit_kpis").fetchone() == (
            len(daily),
            777,
        )
    history.write_site_days("circuit_kpis", DAY, {sites[-1]: tables[sites[-1]]})
    assert not history.pending("circuit_kpis", DAY)
    held = [set(s) for _, s in history._index("circuit_kpis", DAY)]
    assert sum(len(h) for h in held) == len(sites)  # each site in exactly one part
    assert history.dataset("circuit_kpis").count_rows() == len(daily)


def test_the_one_file_of_earlier_versions_is_read_as_the_oldest_part(history, day_kpis):
    _, daily, _, _ = day_kpis
    tables = _by_site(daily)
    sites = sorted(tables)
    whole = pa.concat_tables(list(tables.values()), promote_options="permissive")
    history._write_file(f"{history.day_dir('circuit_kpis', DAY)}/part-0.parquet", whole, sites)
    history.write_site_days("circuit_kpis", DAY, {sites[0]: tables[sites[0]]})
    table, _ = history.read_days("circuit_kpis", [DAY])
    assert table.num_rows == len(daily)
    assert [s for _, s in history._index("circuit_kpis", DAY)][-1] == sites[1:]


def test_duckdb_answers_over_the_history(history, day_kpis):
    _, daily, hourly, _ = day_kpis
    history.write_site_days("circuit_kpis", DAY, _by_site(daily))
    history.write_site_days("circuit_kpis_hourly", DAY, _by_site(hourly))
    with history_connection(history, history_datasets()) as con:
        rows = con.execute(
            "SELECT day, count(*) AS circuits, sum(rx_bytes) AS rx FROM circuit_kpis GROUP BY day"
        ).fetchall()
        hours = con.execute("SELECT count(DISTINCT hour) FROM circuit_kpis_hourly").fetchone()[0]
    assert rows == [(dt.date.fromisoformat(DAY), len(daily), int(daily["rx_bytes"].sum()))]
    assert hours == 24


def test_a_site_day_past_the_hot_window_is_read_from_the_history(redis_client, tmp_path, day_kpis):
    _, daily, _, names = day_kpis
    history = HistoryStore(str(tmp_path / "history"))
    store = AssetStore(redis_client, history=history)
    partitions = {site_day_key(DAY, site_key(names[s], s)): t for s, t in _by_site(daily).items()}
    store.save("circuit_kpis", partitions, ttl_seconds=35 * 86400, keep_history=True)
    hot = store.load("circuit_kpis", list(partitions)).to_pandas()
    for key in partitions:  # the hot window has passed: the keys expired
        redis_client.delete(keys.asset_value(["circuit_kpis"], key))
    assert (
        AssetStore(redis_client).load("circuit_kpis", list(partitions), allow_missing=True).found
        == 0
    )
    t0 = time.perf_counter()
    cold = store.load("circuit_kpis", list(partitions)[:1])
    one_site_day_s = time.perf_counter() - t0
    assert cold.found == 1 and not cold.missing
    _same(store.load("circuit_kpis", list(partitions)).to_pandas(), hot, ["circuit_id"])
    assert one_site_day_s < 5  # a sanity bound only; bench/history.py measures it


def test_a_crash_between_the_tiers_is_repaired_by_the_next_materialization(
    redis_client, tmp_path, day_kpis
):
    _, daily, _, names = day_kpis
    root = tmp_path / "history"
    store = AssetStore(redis_client, history=HistoryStore(str(root)))
    site = str(daily["site_id"].iloc[0])
    key = site_day_key(DAY, site_key(names[site], site))
    first = pa.Table.from_pandas(daily[daily["site_id"].astype(str) == site], preserve_index=False)
    second = first.set_column(
        first.schema.get_field_index("flaps"), "flaps", pa.array([7] * first.num_rows)
    )
    store.save("circuit_kpis", {key: first}, 3600, keep_history=True)
    day_dir = root / "asset=circuit_kpis" / f"day={DAY}"
    day_dir.chmod(0o500)  # the history write fails after Redis took the new value
    try:
        if os.geteuid() == 0:  # root writes anyway: take the directory away instead
            shutil.rmtree(root)
            root.write_text("not a directory")
        with pytest.raises(OSError):
            store.save("circuit_kpis", {key: second}, 3600, keep_history=True)
    finally:
        if root.is_file():
            root.unlink()
        elif day_dir.exists():
            day_dir.chmod(0o700)
    assert store.load("circuit_kpis", [key]).to_pandas()["flaps"].tolist() == [7] * first.num_rows
    store.save("circuit_kpis", {key: second}, 3600, keep_history=True)  # the next run
    found, _ = store.history.read_site_days("circuit_kpis", [(DAY, site)])
    assert found[(DAY, site)].column("flaps").to_pylist() == [7] * first.num_rows


def _daily_rows(day: dt.date, p95: float, up: int = 1440, circuit: str = "aa:ge-0/0/0") -> dict:
    return {
        "day": day,
        "site_id": "s1",
        "site_name": "Lyon",
        "region": "EMEA",
        "circuit_id": circuit,
        "util_p95_pct": p95,
        "up_minutes": up,
        "down_minutes": 1440 - up,
    }


def test_the_13_month_trend_against_a_hand_worked_series(tmp_path):
    """Thirteen months of one circuit: its daily p95 is 30 % in month 0 and rises by 3 points a
    month; one day a month is down half the day. By hand: each month's p95 of daily p95s is
    30 + 3m (every day of a month alike), the latest 66 %; the forecast over the daily p95s
    finds about 3 points per ~30.4 days. A second circuit stopped a month early: it has no
    latest month, never an older month's value in its place."""
    history = HistoryStore(str(tmp_path / "history"))
    start = dt.date(2025, 11, 1)
    months = [(start.replace(day=1) + pd.DateOffset(months=m)).date() for m in range(13)]
    by_day: dict[str, list[dict]] = {}
    for m, first in enumerate(months):
        days_in = (pd.Timestamp(first) + pd.offsets.MonthEnd(0)).day
        for d in range(days_in):
            day = first + dt.timedelta(days=d)
            row = _daily_rows(day, 30.0 + 3 * m, up=720 if d == 0 else 1440)
            if m >= 1:  # stored since the exact seconds existed; month 0 before (no columns)
                row["down_seconds"] = row["down_minutes"] * 60
                row["observed_seconds"] = 86400
                if m == 1 and d == 0:  # port events: down 61 s, not the sampled 12 hours
                    row["down_seconds"] = 61
            by_day.setdefault(day.isoformat(), []).append(row)
    for day, rows in by_day.items():
        if day < months[-1].isoformat():  # the second circuit, with the first's columns
            rows.append({**rows[0], "circuit_id": "aa:ge-0/0/1"})
        history.write_site_days("circuit_kpis", day, {"s1": pa.Table.from_pylist(rows)})
    with history_connection(history, history_datasets()) as con:
        out = thirteen_month_trends(con, months[-1].isoformat()).to_pylist()
        daily = daily_p95(con, months[-1].isoformat()).to_pandas()
    assert len(out) == 2
    row, stopped = out
    assert row["months"] == 13 and row["latest_p95_pct"] == pytest.approx(66.0)
    assert stopped["months"] == 12 and stopped["latest_p95_pct"] is None
    forecast = capacity_forecast(daily, kpi_forecast.month_end(months[-1].isoformat()))
    mine = forecast.set_index("circuit_id").loc["aa:ge-0/0/0"]
    assert mine["forecast"] == "rising"
    assert mine["slope_per_day"] == pytest.approx(3 * 12 / 365, rel=0.15)
    assert forecast.set_index("circuit_id").loc["aa:ge-0/0/1", "forecast"] == "no recent data"
    first = row["by_month"][0]
    days_first = (pd.Timestamp(months[0]) + pd.offsets.MonthEnd(0)).day
    assert first["availability"] == pytest.approx(
        (days_first * 1440 - 720) / (days_first * 1440) * 100
    )
    days_second = (pd.Timestamp(months[1]) + pd.offsets.MonthEnd(0)).day
    assert row["by_month"][1]["availability"] == pytest.approx(
        (days_second * 86400 - 61) / (days_second * 86400) * 100
    )
    days_third = (pd.Timestamp(months[2]) + pd.offsets.MonthEnd(0)).day
    assert row["by_month"][2]["availability"] == pytest.approx(
        (days_third * 1440 - 720) / (days_third * 1440) * 100
    )
