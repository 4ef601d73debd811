"""The batched SQLite event log records exactly what Dagster's stock SQLite event log records,
in far fewer transactions: the same runs against both instances give the same materialized,
planned and failed partitions, tags and latest-event entries."""

from __future__ import annotations

import os
from collections import Counter

import dagster as dg
import pytest

from wanperf_dagster.instance.event_log import BATCH_SIZE_ENV, BatchedSqliteEventLogStorage

pytestmark = [pytest.mark.dagster, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

SITES = [f"site-{i:03d}" for i in range(40)]
DAY = "2025-11-26"
site_day = dg.MultiPartitionsDefinition(
    {
        "day": dg.DailyPartitionsDefinition(start_date="2025-11-20", end_date="2025-11-28"),
        "site": dg.StaticPartitionsDefinition(SITES),
    }
)


@dg.asset(partitions_def=site_day)
def snapshots(context) -> None:
    context.add_output_metadata({"partitions": len(context.partition_keys)})


@dg.asset(partitions_def=site_day, deps=[snapshots])
def kpis() -> None:
    pass


@dg.asset(partitions_def=site_day, deps=[snapshots])
def broken() -> None:
    raise RuntimeError("this asset always fails")


def _range_tags() -> dict[str, str]:
    first, last = (dg.MultiPartitionKey({"day": DAY, "site": s}) for s in (SITES[0], SITES[-1]))
    return {
        "dagster/asset_partition_range_start": first,
        "dagster/asset_partition_range_end": last,
    }


def _record(instance: dg.DagsterInstance) -> dict:
    """Run one successful and one failing range run of all 40 site-days; read back what the
    instance knows about them."""
    ok = dg.materialize([snapshots, kpis], instance=instance, tags=_range_tags())
    assert ok.success
    failed = dg.materialize(
        [snapshots, broken],
        selection=[broken],
        instance=instance,
        tags=_range_tags(),
        raise_on_error=False,
    )
    assert not failed.success
    storage = instance.event_log_storage
    site_7 = dg.MultiPartitionKey({"day": DAY, "site": SITES[7]})
    facts = {
        "materialized": {
            name: sorted(instance.get_materialized_partitions(dg.AssetKey(name)))
            for name in ("snapshots", "kpis", "broken")
        },
        "planned": {
            name: sorted(
                record.partition_key
                for record in instance.get_event_records(
                    dg.EventRecordsFilter(
                        event_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
                        asset_key=dg.AssetKey(name),
                    ),
                    limit=1000,
                )
            )
            for name in ("snapshots", "kpis", "broken")
        },
        "attempted_not_materialized": sorted(
            storage.get_latest_asset_partition_materialization_attempts_without_materializations(
                dg.AssetKey("broken")
            )
        ),
        "by_partition": [
            r.partition_key
            for r in instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey("kpis"), asset_partitions=[site_7]),
                limit=10,
            ).records
        ],
        "by_dimension_tag": [
            {k: v for k, v in tags.items() if k.startswith("dagster/partition/")}
            for tags in instance.get_event_tags_for_asset(
                dg.AssetKey("snapshots"), filter_tags={"dagster/partition/site": SITES[3]}
            )
        ],
        "latest": {
            name: instance.get_latest_materialization_event(
                dg.AssetKey(name)
            ).dagster_event.partition
            for name in ("snapshots", "kpis")
        },
        "run_log": sorted(
            Counter(str(e.dagster_event_type) for e in instance.all_logs(ok.run_id)).items()
        ),
    }
    return facts


def _batched_overrides(tmp_path) -> dict:
    return {
        "event_log_storage": {
            "module": "wanperf_dagster.instance.event_log",
            "class": "BatchedSqliteEventLogStorage",
            "config": {"base_dir": str(tmp_path / "history" / "runs")},
        }
    }


def test_batched_storage_records_what_the_stock_storage_records(tmp_path, monkeypatch):
    monkeypatch.setenv(BATCH_SIZE_ENV, "1000")
    with dg.instance_for_test() as stock:
        expected = _record(stock)
    with dg.instance_for_test(overrides=_batched_overrides(tmp_path)) as batched:
        storage = batched.event_log_storage
        assert isinstance(storage, BatchedSqliteEventLogStorage)
        batch_sizes: list[int] = []
        store_batch = storage.store_event_batch

        def observed(events):
            batch_sizes.append(len(events))
            store_batch(events)

        storage.store_event_batch = observed
        got = _record(batched)

    everything = sorted(dg.MultiPartitionKey({"day": DAY, "site": s}) for s in SITES)
    assert expected["materialized"]["kpis"] == everything
    assert expected["attempted_not_materialized"] == everything
    assert expected["by_dimension_tag"]
    assert got == expected
    # a run's planned events come as one batch, each asset's materializations as another
    assert max(batch_sizes) >= 2 * len(SITES)
    assert sum(batch_sizes) == 5 * len(SITES)  # planned 2 + 1 assets, materialized 2


def test_the_configured_batch_size_turns_batching_on(tmp_path, monkeypatch):
    # set, then removed through monkeypatch: whatever the storage sets is undone after the test
    monkeypatch.setenv(BATCH_SIZE_ENV, "unset")
    monkeypatch.delenv(BATCH_SIZE_ENV)
    overrides = _batched_overrides(tmp_path)
    overrides["event_log_storage"]["config"]["batch_size"] = 250
    with dg.instance_for_test(overrides=overrides) as instance:
        assert isinstance(instance.event_log_storage, BatchedSqliteEventLogStorage)
        assert os.environ[BATCH_SIZE_ENV] == "250"


def test_base_dir_defaults_to_dagster_homes_event_log(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    storage = BatchedSqliteEventLogStorage.from_config_value(None, {"batch_size": 10})
    assert os.path.samefile(storage._base_dir, tmp_path / "history" / "runs")
    monkeypatch.delenv("DAGSTER_HOME")
    with pytest.raises(dg.DagsterInvariantViolationError, match="DAGSTER_HOME"):
        BatchedSqliteEventLogStorage.from_config_value(None, {"batch_size": 10})


def test_a_failed_batch_is_stored_one_by_one_exactly_once(tmp_path, monkeypatch):
    """The index shard fails inside every batch (as SQLite locked past its busy timeout would):
    the run shard's rows of the batch are taken back and every event is stored once, one by one."""
    monkeypatch.setenv(BATCH_SIZE_ENV, "1000")
    with dg.instance_for_test() as stock:
        expected = _record(stock)
    with dg.instance_for_test(overrides=_batched_overrides(tmp_path)) as batched:
        storage = batched.event_log_storage
        store_tags = storage._store_asset_event_tags
        failures = []

        def failing_in_batches(conn, events, event_ids):
            if len(events) > 1:
                failures.append(len(events))
                raise RuntimeError("database is locked")
            store_tags(conn, events, event_ids)

        storage._store_asset_event_tags = failing_in_batches
        got = _record(batched)
    assert failures  # the batches did fail
    assert got == expected


def _postgres_server() -> str:
    import socket

    server = os.environ.get("WANPERF_TEST_DAGSTER_PG_URL", "postgresql://postgres@127.0.0.1:5432")
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=2).close()
    except OSError:
        pytest.skip("no Postgres on 127.0.0.1:5432: the Postgres event log needs one")
    return server


def _postgres_overrides(module: str, cls: str) -> dict:
    """The project's Postgres storages in a database of their own, with this event log."""
    from harness.instance_config import make_postgres_database
    from wanperf_dagster.instance.config import postgres_storages

    url = make_postgres_database(_postgres_server())
    storages = postgres_storages(url)
    storages["event_log_storage"].update({"module": module, "class": cls})
    return storages


def test_batched_postgres_storage_records_what_dagster_postgres_records(monkeypatch):
    """A run's planned events go in one insert, not one round trip each (the backfill daemon
    took 24-40 s to create each 500 site-day chunk run that way), and what is recorded is what
    dagster-postgres records."""
    from wanperf_dagster.instance.postgres_event_log import BatchedPostgresEventLogStorage

    monkeypatch.setenv(BATCH_SIZE_ENV, "1000")
    stock_overrides = _postgres_overrides("dagster_postgres.event_log", "PostgresEventLogStorage")
    with dg.instance_for_test(overrides=stock_overrides) as stock:
        expected = _record(stock)
    overrides = _postgres_overrides(
        "wanperf_dagster.instance.postgres_event_log", "BatchedPostgresEventLogStorage"
    )
    with dg.instance_for_test(overrides=overrides) as batched:
        storage = batched.event_log_storage
        assert isinstance(storage, BatchedPostgresEventLogStorage)
        one_by_one: list[str] = []
        store_event = storage.store_event

        def observed(event):
            one_by_one.append(str(event.dagster_event_type))
            store_event(event)

        storage.store_event = observed
        got = _record(batched)
    everything = sorted(dg.MultiPartitionKey({"day": DAY, "site": s}) for s in SITES)
    assert expected["planned"]["snapshots"] == everything
    assert got == expected
    planned = Counter(one_by_one)[str(dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED)]
    assert planned == 0, Counter(one_by_one)
