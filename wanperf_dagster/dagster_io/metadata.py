"""Metadata conventions shared by the definitions: owners, column schemas, markdown previews."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pyarrow as pa

OWNERS = ["team:noc-analytics"]

# definition metadata the IO manager reads
PARTITION_COLUMNS = "wanperf/partition_columns"  # {dimension: column}, for multi-partition writes
TTL_SECONDS = "wanperf/ttl_seconds"  # the lifetime of the asset's stored values
ALLOW_MISSING = "wanperf/allow_missing"  # input metadata: skip partitions never materialized
# what the IO manager tells an asset about an input loaded with ALLOW_MISSING: the upstream
# partition keys that had no stored value (`frame.attrs[...]`, a list of strings)
MISSING_PARTITIONS = "wanperf/missing_partitions"


def column_schema(schema: pa.Schema) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name=f.name, type=str(f.type)) for f in schema])


def frame_column_schema(frame: pd.DataFrame) -> dg.TableSchema:
    """The column schema of a (typically empty) frame, for an asset's definition metadata."""
    return column_schema(pa.Schema.from_pandas(frame, preserve_index=False))


def markdown_table(frame: pd.DataFrame, columns: list[str], n: int = 10) -> dg.MetadataValue:
    """A small markdown preview for the UI (floats rounded)."""
    if frame.empty:
        return dg.MetadataValue.md("_no rows_")
    view = frame[columns].head(n).copy()
    for c in view.columns:
        if pd.api.types.is_float_dtype(view[c]):
            view[c] = view[c].round(2)
    header = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    body = "\n".join(
        "| " + " | ".join("" if pd.isna(v) else str(v) for v in row) + " |"
        for row in view.itertuples(index=False)
    )
    return dg.MetadataValue.md(header + body)


# tags and pools
CADENCE_TAG = (
    "wanperf/cadence"  # when an asset is refreshed: "sweep" or "hourly" (jobs select by it)
)
MIST_API_TAG = "wanperf/mist-api"  # the run queue lets one run with this tag through at a time
MIST_POOL = "mist_api"  # one op at a time talks to the Mist API
