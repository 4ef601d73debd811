"""The instance's SQLite event log, storing a batch of asset events in one transaction per shard.

Dagster records one materialization event and one planned event per partition: a chunk run of
500 site-days writes about 3,000 events, and the stock SQLite storage opens an engine, a
connection and a committed transaction twice for each of them (about 10 ms an event, most of a
chunk run's time). Dagster already hands these events to the storage in batches once
`DAGSTER_EVENT_BATCH_SIZE` is set; only its open-source SQLite storage then stores them one by
one. This storage writes each batch with one insert per shard, so nothing about what is recorded
changes, only how many transactions record it. It also reads dynamic partitions once until they
change (`partition_reads.py`). The `event_log` patch (WANPERF_DAGSTER_PATCHES) selects it
(`config.py`); off, the instance has Dagster's stock storage.

This is the only module of the project that uses Dagster's private APIs (the storage classes it
extends; docs/architecture.md lists them with the tests that pin them). It serves the embedded
SQLite instance of `make run`; at scale the instance runs on Postgres (`dagster-postgres`), whose
event log already stores a batch of events in one statement, and this class is not used.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
from dagster._core.events import DagsterEventType
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log import SqliteEventLogStorage
from dagster._core.storage.event_log.schema import SqlEventLogStorageTable
from dagster._serdes import ConfigurableClassData

from wanperf_dagster.settings import current_dagster_home, set_default_env

from . import quiet_logs
from .partition_reads import DynamicPartitionsReadOnce

# every process that loads the project's instance (the daemon included) logs the run queue once
quiet_logs.install()

logger = logging.getLogger(__name__)

STOCK_STORAGE = SqliteEventLogStorage  # what this extends (`config.batched_event_log` checks it)
BATCH_SIZE_ENV = "DAGSTER_EVENT_BATCH_SIZE"
DEFAULT_BATCH_SIZE = 1000

# the asset events whose storage is a row in the run shard, a row in the index shard, its tags
# and the asset's latest-event entry; every other event goes through the stock path
BATCHED_TYPES = frozenset(
    {
        DagsterEventType.ASSET_MATERIALIZATION,
        DagsterEventType.ASSET_OBSERVATION,
        DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
    }
)


class BatchedSqliteEventLogStorage(DynamicPartitionsReadOnce, SqliteEventLogStorage):
    """`SqliteEventLogStorage` with a real `store_event_batch`, and dynamic partitions read once
    until they change (`partition_reads`)."""

    def __init__(
        self,
        base_dir: str,
        inst_data: ConfigurableClassData | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        super().__init__(base_dir, inst_data=inst_data)
        self.batch_size = batch_size
        # Dagster reads the batch size from this variable at every event, in every process that
        # loads the instance (run workers, daemon, webserver); an explicit setting wins
        set_default_env(BATCH_SIZE_ENV, str(batch_size))

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {
            "base_dir": dg.Field(dg.StringSource, is_required=False),
            "batch_size": dg.Field(int, default_value=DEFAULT_BATCH_SIZE),
        }

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> BatchedSqliteEventLogStorage:
        base_dir = config_value.get("base_dir") or default_base_dir()
        return cls(base_dir, inst_data=inst_data, batch_size=config_value["batch_size"])

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        """The asset events as one unit (all stored or none), then any others one by one.

        When the unit fails (say SQLite stays locked past its busy timeout), its events are
        stored one by one here, so Dagster's own fallback — storing the whole batch again one by
        one — never sees an exception after part of the batch was written."""
        batched = [e for e in events if e.dagster_event_type in BATCHED_TYPES]
        if len(batched) >= 2:
            try:
                self._store_as_one_unit(batched)
            except Exception as exc:
                logger.warning(
                    "storing %d asset events as one batch failed (%s); storing them one by one",
                    len(batched),
                    exc,
                )
                batched = []
        done = {id(e) for e in batched}
        for event in events:
            if id(event) not in done:
                self.store_event(event)

    def _store_as_one_unit(self, batched: Sequence[EventLogEntry]) -> None:
        rows = [self._event_to_row(event) for event in batched]
        rows_by_run: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            rows_by_run[row["run_id"]].append(row)
        table = SqlEventLogStorageTable
        insert = table.insert().returning(table.c.id, sort_by_parameter_order=True)
        written: dict[str, list[int]] = {}
        try:
            for run_id, run_rows in rows_by_run.items():
                with self.run_connection(run_id) as conn:
                    written[run_id] = [row[0] for row in conn.execute(insert, run_rows)]
            # mirror them in the cross-run index shard, where the ids are needed for the tags
            # and the asset's latest-event entry
            with self.index_transaction() as conn:
                event_ids = [row[0] for row in conn.execute(insert, rows)]
                self._store_asset_event_tags(conn, batched, event_ids)
                latest: dict[tuple[str, DagsterEventType], tuple[EventLogEntry, int]] = {}
                for event, event_id in zip(batched, event_ids, strict=True):
                    asset_key = event.get_dagster_event().asset_key
                    if asset_key is not None:
                        key = (asset_key.to_string(), event.dagster_event_type)
                        latest[key] = (event, event_id)
                for event, event_id in latest.values():
                    self._store_asset_event(conn, event, event_id)
        except Exception:
            for run_id, ids in written.items():  # none stored, so none stored twice
                with self.run_connection(run_id) as conn:
                    conn.execute(table.delete().where(table.c.id.in_(ids)))
            raise


def default_base_dir() -> str:
    """Where Dagster's default SQLite instance keeps its event log: $DAGSTER_HOME/history/runs."""
    home = current_dagster_home()
    if home is None:
        raise dg.DagsterInvariantViolationError(
            "BatchedSqliteEventLogStorage without base_dir needs DAGSTER_HOME to be set"
        )
    return f"{home / 'history' / 'runs'}/"
