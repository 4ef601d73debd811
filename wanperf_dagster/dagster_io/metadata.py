"""Metadata conventions shared by the definitions: owners, column schemas, markdown previews."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa

from wanperf_dagster.dagster_io.partitions import run_partition_keys
from wanperf_dagster.settings import Settings, patch_unavailable
from wanperf_dagster.storage import dataset
from wanperf_dagster.storage.schemas import logical_type

try:  # not public API; see add_partition_metadata
    from dagster._core.execution.context.metadata_logging import (
        AssetMetadataHandle,
        OutputMetadataAccumulator,
    )
except ImportError:  # pragma: no cover - another Dagster
    AssetMetadataHandle = OutputMetadataAccumulator = None

OWNERS = ["team:noc-analytics"]

# input metadata the IO manager reads (how it stores an asset is the dataset registry's)
ALLOW_MISSING = "wanperf/allow_missing"  # input metadata: skip partitions never materialized
# what the IO manager tells an asset about an input loaded with ALLOW_MISSING: the upstream
# partition keys that had no stored value (`frame.attrs[...]`, a list of strings)
MISSING_PARTITIONS = "wanperf/missing_partitions"


def readable_type(arrow_type: pa.DataType) -> str:
    """The type a person reads: string, int, float, bool, timestamp, date, category (an ordered
    dictionary), rather than Arrow's `dictionary<values=string, indices=int8>`."""
    if pa.types.is_dictionary(arrow_type) and arrow_type.ordered:
        return "category"
    logical = logical_type(arrow_type)
    # a null column is an object column with nothing in it yet
    return READABLE.get(logical, logical)


READABLE = {"int64": "int", "double": "float", "date32": "date", "null": "string"}


def column_schema(schema: pa.Schema, descriptions: dict[str, str] | None = None) -> dg.TableSchema:
    """Each column with its type as a person reads it and its description (from `descriptions`,
    else the field's own `description` metadata)."""
    descriptions = descriptions or {}

    def described(f: pa.Field) -> str | None:
        own = (f.metadata or {}).get(b"description")
        return descriptions.get(f.name) or (own.decode() if own else None)

    return dg.TableSchema(
        columns=[
            dg.TableColumn(name=f.name, type=readable_type(f.type), description=described(f))
            for f in schema
        ]
    )


def dataset_column_schema(name: str) -> dg.TableSchema:
    """The declared columns of a registered dataset (storage/datasets.py), for its asset's
    definition metadata: the UI shows the contract without repeating it in every partition."""
    return column_schema(dataset(name).schema)


def frame_column_schema(
    frame: pd.DataFrame, descriptions: dict[str, str] | None = None
) -> dg.TableSchema:
    """The column schema of a (typically empty) frame, for an asset's definition metadata; a
    `day` column of an empty frame holds no dates yet, but is stored as one."""
    schema = pa.Schema.from_pandas(frame, preserve_index=False)
    if "day" in schema.names and pa.types.is_null(schema.field("day").type):
        schema = schema.set(schema.get_field_index("day"), pa.field("day", pa.date32()))
    return column_schema(schema, descriptions)


def circuit_table(frame: pd.DataFrame, columns: list[str], n: int = 10) -> dg.MetadataValue:
    """A table the UI shows as one (rather than markdown behind a button): the first n rows,
    floats rounded to two places, categories as text, missing values empty."""
    columns = [c for c in columns if c in frame.columns]
    view = frame[columns].head(n)
    # the types a record holds, named as `readable_type` names them (read from the dtypes: an
    # Arrow schema of a converted copy cost ~3 ms a table, 500 tables a chunk run)
    schema = dg.TableSchema(
        columns=[
            dg.TableColumn(name=name, type=_READABLE[kind])
            for name, kind in _plain_types(view).items()
        ]
    )
    records = []
    for row in view.itertuples(index=False):
        data = {}
        for name, value in zip(columns, row, strict=True):
            if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
                data[name] = None
            elif isinstance(value, float | np.floating):
                data[name] = round(float(value), 2)
            elif isinstance(value, bool | np.bool_):
                data[name] = bool(value)
            elif isinstance(value, int | np.integer):
                data[name] = int(value)
            else:
                data[name] = str(value)
        records.append(dg.TableRecord(data))
    return dg.MetadataValue.table(records=records, schema=schema)


_READABLE = {"string": "string", "bool": "bool", "int64": "int", "float64": "float"}


def _plain_types(frame: pd.DataFrame) -> dict:
    """The types a table record holds: categories and objects as text, then bools, integers
    (nullable ones too: a gap is an empty cell) and other numbers as floats."""
    out = {}
    for name, dtype in frame.dtypes.items():
        if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_object_dtype(dtype):
            out[name] = "string"
        elif pd.api.types.is_bool_dtype(dtype):
            out[name] = "bool"
        elif pd.api.types.is_integer_dtype(dtype):
            out[name] = "int64"
        elif pd.api.types.is_numeric_dtype(dtype):
            out[name] = "float64"
        else:
            out[name] = "string"
    return out


# tags and pools
CADENCE_TAG = (
    "wanperf/cadence"  # when an asset is refreshed: "sweep" or "hourly" (jobs select by it)
)
MIST_API_TAG = "wanperf/mist-api"  # the run queue lets one run with this tag through at a time
MIST_POOL = "mist_api"  # one op at a time talks to the Mist API


def add_partition_metadata(
    context: dg.AssetExecutionContext,
    asset_key: str,
    by_partition: dict[str, dict],
    settings=None,
) -> None:
    """Each partition's own metadata, for a run over a range of partitions.

    By default Dagster's public call, `context.add_asset_metadata(..., partition_key=...)`, once
    per partition. It enumerates the run's whole partition range again on every call (two queries
    of the dynamic site partitions included) and copies every entry added before: in a 500
    site-day chunk, three calls per site-day took 55.6 of the run's 74 s. With the
    `partition_metadata` patch on (`WANPERF_DAGSTER_PATCHES`, the `settings` resource), this
    checks the keys once against the run's partitions and adds them in one step, to the same
    accumulator Dagster reads when it writes each partition's materialization. That accumulator
    is not public API: with a Dagster that lacks it, the public call is used, and the log says so
    once (`test_partition_metadata` pins both paths). On the public call, a run over more
    partitions than `partition_metadata_limit` (a backfill's chunk) gets none (`_left_out`).
    """
    key = dg.AssetKey.from_coercible(asset_key)
    if key not in context.assets_def.keys:
        raise dg.DagsterInvariantViolationError(f"{key.to_user_string()} is not materialized here")
    targeted = set(run_partition_keys(context))
    stray = [p for p in by_partition if p not in targeted]
    if stray:
        raise dg.DagsterInvariantViolationError(
            f"metadata for {len(stray)} partitions this run does not target, e.g. {stray[0]}"
        )
    step = context.get_step_execution_context()
    accumulator = getattr(step, "_metadata_accumulator", None)
    fast = settings is not None and settings.patched("partition_metadata")
    if fast and not _can_batch(accumulator):
        patch_unavailable("partition_metadata", "the step's metadata accumulator")
    if not fast or not _can_batch(accumulator):
        limit = (settings or Settings).partition_metadata_limit
        if len(targeted) > limit:
            _left_out(context, key, len(targeted), limit)
            return
        for partition, metadata in by_partition.items():
            context.add_asset_metadata(metadata, asset_key=key, partition_key=partition)
        return
    merged = dict(accumulator.per_output_metadata)
    for partition, metadata in by_partition.items():
        handle = AssetMetadataHandle(asset_key=key, partition_key=partition)
        merged[handle] = {**merged.get(handle, {}), **metadata}
    step._metadata_accumulator = OutputMetadataAccumulator(per_output_metadata=merged)


LEFT_OUT = "site_day_figures"  # what a partition of a large stock run shows instead


def _left_out(context: dg.AssetExecutionContext, key: dg.AssetKey, run_size: int, limit: int):
    """Stock Dagster's per-partition call costs O(the org's sites) each (it lists the run's
    partitions again, reading every dynamic site partition): at 20,000 sites about 0.3 s, some
    20 minutes (estimated) for a chunk run of 500 site-days. So a large run on stock Dagster
    gives each partition one line saying why its figures are not there (the unpartitioned
    call: no listing), and the run's log says so for each call; the dashboard has the figures."""
    note = (
        f"not in a run of {run_size} site-days on stock Dagster (more than"
        f" WANPERF_PARTITION_METADATA_LIMIT={limit}); the dashboard has them, and"
        " WANPERF_DAGSTER_PATCHES=partition_metadata adds them to runs of any size"
    )
    context.add_asset_metadata({LEFT_OUT: note}, asset_key=key)
    context.log.info(f"{key.to_user_string()}: per-partition metadata {note}")


def _can_batch(accumulator) -> bool:
    """Whether this Dagster keeps asset metadata the way `add_partition_metadata` writes it."""
    return (
        OutputMetadataAccumulator is not None
        and isinstance(accumulator, OutputMetadataAccumulator)
        and isinstance(getattr(accumulator, "per_output_metadata", None), dict)
        and set(AssetMetadataHandle._fields) == {"asset_key", "partition_key"}
    )
