"""Dynamic partitions read once until they change, in the batched event logs (the `event_log`
patch, WANPERF_DAGSTER_PATCHES).

Dagster reads a dynamic partitions definition's keys from the instance every time it enumerates a
range of it: a `day x site` chunk run's output and input contexts, its partition metadata and the
daemon's run creation each read every site partition again (20,000 rows at 20,000 sites, about
0.1 s each time through SQLAlchemy). Here a read first asks the table whether that definition's
partitions changed since this process last read them (their count, newest id and newest
timestamp: one aggregate query, no rows to build) and returns the keys it has when they did not.
Partitions added or deleted by any process change the answer, so no read is stale; the one
change it cannot see is a deletion of the newest partition and an addition of another in the
same second (SQLite can reuse the id): the project never deletes a site partition.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as db
from dagster._core.storage.event_log.schema import DynamicPartitionsTable


class DynamicPartitionsReadOnce:
    """A mixin for a `SqlEventLogStorage`: `get_dynamic_partitions` from this process's copy while
    the table says nothing changed."""

    def _partitions_version(self, partitions_def_name: str) -> tuple:
        table = DynamicPartitionsTable
        query = db.select(
            db.func.count(table.c.id),
            db.func.max(table.c.id),
            db.func.max(table.c.create_timestamp),
        ).where(table.c.partitions_def_name == partitions_def_name)
        with self.index_connection() as conn:  # type: ignore[attr-defined]
            return tuple(conn.execute(query).fetchone() or ())

    def get_dynamic_partitions(self, partitions_def_name: str) -> Sequence[str]:
        # per definition: (the version read, its keys); on the instance, not the class
        reads = self.__dict__.setdefault("_partition_reads", {})
        self._check_partitions_table()  # type: ignore[attr-defined]
        version = self._partitions_version(partitions_def_name)
        known = reads.get(partitions_def_name)
        if known is not None and known[0] == version:
            return list(known[1])
        # read after the version: a change in between is seen again at the next read
        keys = list(super().get_dynamic_partitions(partitions_def_name))  # type: ignore[misc]
        reads[partitions_def_name] = (version, keys)
        return list(keys)
