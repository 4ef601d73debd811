"""The batched event logs read a dynamic partitions definition's keys once until they change:
another process's addition or deletion is seen at the next read, and nothing a caller does to a
returned list changes what the next caller gets."""

from __future__ import annotations

from unittest import mock

import dagster as dg
import pytest

from .test_event_log import _batched_overrides, _postgres_overrides

pytestmark = [pytest.mark.dagster, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def _check_reads(reader: dg.DagsterInstance, writer: dg.DagsterInstance) -> None:
    """`reader` and `writer`: two instances on one storage, as two processes are."""
    storage = reader.event_log_storage
    stock = type(storage).__mro__[2]  # past the mixin and the batched class: Dagster's own
    assert stock.__module__.startswith(("dagster.", "dagster_postgres."))
    writer.add_dynamic_partitions("site", ["a", "b"])
    with mock.patch.object(
        stock, "get_dynamic_partitions", autospec=True, side_effect=stock.get_dynamic_partitions
    ) as full_reads:
        assert reader.get_dynamic_partitions("site") == ["a", "b"]
        got = reader.get_dynamic_partitions("site")
        assert got == ["a", "b"] and full_reads.call_count == 1
        got.append("made-up")  # a caller's list is its own
        assert reader.get_dynamic_partitions("site") == ["a", "b"]
        assert full_reads.call_count == 1

        writer.add_dynamic_partitions("site", ["c"])  # another process adds
        assert reader.get_dynamic_partitions("site") == ["a", "b", "c"]
        assert full_reads.call_count == 2
        writer.delete_dynamic_partition("site", "a")  # and deletes
        assert reader.get_dynamic_partitions("site") == ["b", "c"]
        writer.delete_dynamic_partition("site", "c")  # the newest
        assert reader.get_dynamic_partitions("site") == ["b"]
        assert reader.get_dynamic_partitions("other") == []
        assert full_reads.call_count == 5
        # what Dagster enumerates from them is the same
        sites = dg.DynamicPartitionsDefinition(name="site")
        assert sites.get_partition_keys(dynamic_partitions_store=reader) == ["b"]


def test_sqlite_reads_site_partitions_once_until_they_change(tmp_path):
    overrides = _batched_overrides(tmp_path)
    with (
        dg.instance_for_test(overrides=overrides, temp_dir=str(tmp_path)) as reader,
        dg.instance_for_test(overrides=overrides, temp_dir=str(tmp_path)) as writer,
    ):
        _check_reads(reader, writer)


def test_postgres_reads_site_partitions_once_until_they_change():
    overrides = _postgres_overrides(
        "wanperf_dagster.instance.postgres_event_log", "BatchedPostgresEventLogStorage"
    )
    with (
        dg.instance_for_test(overrides=overrides) as reader,
        dg.instance_for_test(overrides=overrides) as writer,
    ):
        _check_reads(reader, writer)
