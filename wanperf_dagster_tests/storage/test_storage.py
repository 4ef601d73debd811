"""The one storage API against a real Redis: what the IO manager writes, every other reader gets."""

import pyarrow as pa
import pytest

from wanperf_dagster.storage import (
    AssetStore,
    PartitionNotFoundError,
    site_day_key,
    split_site_day_key,
)

pytestmark = pytest.mark.storage


def _kpis(site: str, n: int) -> pa.Table:
    return pa.table(
        {
            "site_id": pa.array([site] * n).dictionary_encode(),
            "circuit_id": pa.array([f"{site}:ge-0/0/{i}" for i in range(n)]).dictionary_encode(),
            "availability_pct": [99.5 - i for i in range(n)],
        }
    )


def test_save_then_load_site_days_with_what_is_missing(redis_client):
    assets = AssetStore(redis_client)
    written = assets.save(
        "circuit_kpis",
        {site_day_key("2026-11-26", s): _kpis(s, 2) for s in ("s1", "s2")},
        ttl_seconds=3600,
    )
    assert written > 0
    loaded = assets.load_site_days("circuit_kpis", ["2026-11-26", "2026-11-25"], ["s1", "s2"])
    assert loaded.found == 2 and loaded.table.num_rows == 4
    assert sorted(loaded.missing) == ["2026-11-25|s1", "2026-11-25|s2"]
    # one dictionary over the partitions, sorted like pandas categories
    frame = loaded.to_pandas()
    assert list(frame["site_id"].cat.categories) == ["s1", "s2"]
    assert 0 < redis_client.ttl(next(iter(redis_client.scan_iter("*circuit_kpis*")))) <= 3600


def test_a_missing_partition_is_a_clear_error_unless_allowed(redis_client):
    assets = AssetStore(redis_client)
    assets.save("org_kpis", {"2026-11-26": pa.table({"circuits": [3]})}, None)
    with pytest.raises(PartitionNotFoundError) as err:
        assets.load("org_kpis", ["2026-11-26", "2026-11-27"])
    assert str(err.value).startswith("asset org_kpis: no stored value for partition 2026-11-27")
    allowed = assets.load("org_kpis", ["2026-11-26", "2026-11-27"], allow_missing=True)
    assert allowed.table.column("circuits").to_pylist() == [3]


def test_unpartitioned_values_and_the_inventory(redis_client):
    assets = AssetStore(redis_client)
    assert assets.latest("mist_sites") is None and assets.site_ids() is None
    assets.save("mist_sites", {None: pa.table({"site_id": ["b", "a"], "region": ["x", "y"]})}, None)
    assert assets.site_ids() == ["b", "a"]  # in the inventory's order
    assets.save("mist_sites", {None: pa.table({"site_id": ["c"], "region": ["x"]})}, None)
    assert assets.site_ids() == ["c"]  # a new materialization replaces the value


def test_site_day_keys_are_dagsters():
    import dagster as dg

    key = site_day_key("2026-11-26", "site-1")
    assert key == str(dg.MultiPartitionKey({"day": "2026-11-26", "site": "site-1"}))
    assert split_site_day_key(key) == ("2026-11-26", "site-1")


def test_a_load_in_batches_equals_a_load_at_once(redis_client, monkeypatch):
    """Many partitions are read a batch at a time; the table, the missing keys and the sorted
    dictionaries are the same as one read of all of them, in key order."""
    from wanperf_dagster.storage import api as storage_api

    assets = AssetStore(redis_client)
    sites = [f"s{i:02d}" for i in range(11)]
    assets.save(
        "circuit_kpis",
        {site_day_key("2026-11-26", s): _kpis(s, 1 + i % 3) for i, s in enumerate(sites)},
        ttl_seconds=3600,
    )
    keys = [site_day_key("2026-11-26", s) for s in sites[::-1]] + ["2026-11-26|gone"]
    at_once = assets.load("circuit_kpis", keys, allow_missing=True)
    monkeypatch.setattr(storage_api, "LOAD_BATCH", 3)
    batched = assets.load("circuit_kpis", keys, allow_missing=True)
    assert batched.table.equals(at_once.table) and batched.table.num_rows == 21
    assert batched.missing == at_once.missing == ["2026-11-26|gone"]
    assert batched.found == at_once.found == 11
    frame = batched.to_pandas()
    assert list(frame["site_id"].cat.categories) == sorted(sites)
    assert list(dict.fromkeys(frame["site_id"].astype(str))) == sites[::-1]  # key order
    with pytest.raises(PartitionNotFoundError):
        assets.load("circuit_kpis", keys)


def test_reads_of_today_and_yesterday_never_ask_which_site_days_were_released(
    redis_client, monkeypatch
):
    """Only a day over before yesterday is ever released: the status's and the alerts' reads
    (today, yesterday) send no more to Redis than the samples' own reads; an older day is
    still asked about."""
    import time

    from wanperf_dagster.storage import day_of
    from wanperf_dagster.store import samples as sample_store

    asked: list[list[tuple[str, str]]] = []
    real = sample_store.released_site_days

    def spy(client, site_days):
        asked.append(list(site_days))
        return real(client, site_days)

    monkeypatch.setattr(sample_store, "released_site_days", spy)
    assets = AssetStore(redis_client)
    today, yesterday = day_of(time.time()), day_of(time.time() - 86400)
    old = day_of(time.time() - 3 * 86400)
    assets.read_samples([(today, "s1"), (yesterday, "s1"), (today, "s2")])
    assert asked == [[]]
    assets.read_samples([(today, "s1"), (old, "s1")])
    assert asked[-1] == [(old, "s1")]
