"""A history that heals itself: a part file truncated or garbled is moved aside (named in the
log, listed by the storage API), its site-days are rewritten from Redis where it holds them,
the day's next write goes through, reads and DuckDB queries skip it, and what killed writers
left behind (`*.tmp`) is removed by the day's next writer."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest

from wanperf_dagster.settings import get_settings
from wanperf_dagster.storage import AssetStore, site_day_key, site_key
from wanperf_dagster.store import keys

pytestmark = [pytest.mark.storage]

DAY = "2025-11-26"
PROJECT = Path(__file__).resolve().parents[2]


def _rows(site: str, n: int = 3) -> pa.Table:
    return pa.table(
        {
            "day": [DAY] * n,
            "site_id": [site] * n,
            "circuit_id": [f"{site[:6]}:ge-0/0/{k}" for k in range(n)],
            "down_seconds": [60 * k for k in range(n)],
        }
    )


@pytest.fixture
def day_in_two_parts(redis_client):
    """Six sites' day of circuit_kpis, saved in two chunks (two part files), Redis and history."""
    assets = AssetStore.from_settings(get_settings(), client=redis_client)
    sites = [f"{k:08x}-0000-4000-8000-000000000000" for k in range(6)]
    keys_of = {s: site_key(f"SITE-{k}", s) for k, s in enumerate(sites)}
    assets.save(
        "mist_sites",
        {None: pa.table({"site_id": sites, "name": list(keys_of), "region": ["EU"] * 6})},
        None,
    )
    assets.register_site_keys(list(keys_of.values()))
    for chunk in (sites[:3], sites[3:]):
        assets.save(
            "circuit_kpis",
            {site_day_key(DAY, keys_of[s]): _rows(s) for s in chunk},
            3600,
            keep_history=True,
        )
    parts = assets.history.parts("circuit_kpis", DAY)
    assert len(parts) == 2
    return assets, sites, keys_of, parts


def _truncate(path: str) -> None:
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[: len(data) // 2])


def _garble(path: str) -> None:
    data = bytearray(Path(path).read_bytes())
    middle = len(data) // 2
    data[middle - 64 : middle + 64] = os.urandom(128)
    data[4:40] = os.urandom(36)  # the first page's header too
    Path(path).write_bytes(bytes(data))


def test_a_truncated_part_is_moved_aside_and_healed_by_the_next_write(day_in_two_parts, caplog):
    assets, sites, keys_of, (older, _) = day_in_two_parts
    _truncate(older)
    # the day's next write (site 0 materialized again): it went through, and healed the rest
    assets.save(
        "circuit_kpis", {site_day_key(DAY, keys_of[sites[0]]): _rows(sites[0], 4)}, 3600, True
    )
    quarantined = assets.history_quarantine()
    assert [(q["asset"], q["day"]) for q in quarantined] == [("circuit_kpis", DAY)]
    assert not Path(older).exists() and Path(quarantined[0]["file"]).exists()
    held, missing = assets.history.read_site_days("circuit_kpis", [(DAY, s) for s in sites])
    assert not missing and held[(DAY, sites[0])].num_rows == 4
    assert held[(DAY, sites[1])].num_rows == 3  # rewritten from Redis
    assert any("is unreadable" in r.message and older in r.message for r in caplog.records)
    assert any("healed: 2 site-day(s) rewritten from Redis" in r.message for r in caplog.records)
    # and DuckDB reads the whole day again
    count = assets.history_query("SELECT count(*) AS n FROM circuit_kpis").to_pylist()[0]["n"]
    assert count == 4 + 5 * 3


def test_reads_and_queries_skip_a_garbled_part_and_say_what_is_missing(
    day_in_two_parts, redis_client
):
    assets, sites, keys_of, (_, newer) = day_in_two_parts
    _garble(newer)
    for s in sites[3:]:  # Redis let these go: only the history had them
        redis_client.delete(keys.asset_value(["circuit_kpis"], site_day_key(DAY, keys_of[s])))
    loaded = assets.load_site_days("circuit_kpis", [DAY], list(keys_of.values()))
    assert loaded.found == 3 and len(loaded.missing) == 3  # said, not a crash
    count = assets.history_query("SELECT count(*) AS n FROM circuit_kpis").to_pylist()[0]["n"]
    assert count == 9
    assert [q["asset"] for q in assets.history_quarantine()] == ["circuit_kpis"]


def test_wanperf_query_and_export_go_on_past_a_corrupt_file(day_in_two_parts, redis_url):
    _, sites, _, (_, newer) = day_in_two_parts
    _truncate(newer)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MIST_")},
        "WANPERF_REDIS_URL": redis_url,
    }
    wanperf = str(Path(sys.executable).parent / "wanperf")
    query = subprocess.run(
        [wanperf, "query", "SELECT count(*) AS n FROM circuit_kpis"],
        env=env,
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert query.returncode == 0, query.stderr[-2000:]
    assert "18" in query.stdout and "Traceback" not in query.stderr
    export = subprocess.run(
        [wanperf, "export", "--asset", "circuit_kpis", "--day", DAY, "--site", sites[4]],
        env=env,
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert export.returncode == 0, export.stderr[-2000:]  # healed from Redis, read back
    assert sites[4][:6] in export.stdout and "Traceback" not in export.stderr


def test_what_killed_writers_left_is_removed_by_the_next_writer(day_in_two_parts):
    assets, sites, keys_of, (older, _) = day_in_two_parts
    folder = Path(older).parent
    stale = folder / "part-00000000000000000001-dead.parquet.0123abcd.tmp"
    fresh = folder / "part-00000000000000000002-live.parquet.4567cdef.tmp"
    for path in (stale, fresh):
        path.write_bytes(b"half a file")
    long_ago = time.time() - 3600
    os.utime(stale, (long_ago, long_ago))
    assets.save("circuit_kpis", {site_day_key(DAY, keys_of[sites[2]]): _rows(sites[2])}, 3600, True)
    assert not stale.exists() and fresh.exists()  # a live writer's may be in progress


def test_the_history_intact_check_counts_what_was_moved_aside(day_in_two_parts, redis_url):
    from wanperf_dagster.dagster_io.resources import RedisResource
    from wanperf_dagster.defs.rollups.checks import history_intact

    redis = RedisResource(url=redis_url, data_dir=str(get_settings().data_dir))
    assert history_intact(redis=redis).passed
    _, _, _, (older, _) = day_in_two_parts
    _truncate(older)
    day_in_two_parts[0].history_query("SELECT count(*) FROM circuit_kpis")
    result = history_intact(redis=redis)
    assert not result.passed and result.metadata["moved_aside_recently"].value == 1
