"""The history tier: every materialized site-day in Parquet, one compacted file per asset and day,
on any filesystem pyarrow reaches (a local directory, or S3 and its look-alikes), queried with
DuckDB. A plain library: no Dagster, no Redis (a lock is passed in)."""

from .parquet import HistoryStore, open_filesystem
from .query import daily_p95, history_connection, thirteen_month_trends
from .warehouse import export_history

__all__ = [
    "HistoryStore",
    "daily_p95",
    "export_history",
    "history_connection",
    "open_filesystem",
    "thirteen_month_trends",
]
