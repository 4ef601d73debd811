"""The IO manager: asset partitions as compressed Arrow tables through the one storage API
(`storage.AssetStore`), one stored value per partition.

A step that writes or reads many partitions does it in pipelined round trips, never one per
partition. What it stores is the dataset registry's (`storage/datasets.py`): an asset without a
record there is refused; its record says which column of the rows holds each partition
dimension (how a chunk's rows are split), its lifetime in Redis and whether it goes to history.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import dagster as dg
import pandas as pd
import pyarrow as pa

from wanperf_dagster.kpi import COLUMN_DESCRIPTIONS
from wanperf_dagster.storage import (
    compact_dictionaries,
    dataset,
    site_id_of,
    split_by_partition,
    split_partition_key,
)

from .metadata import ALLOW_MISSING, MISSING_PARTITIONS, column_schema
from .partitions import SITE_PARTITIONS
from .resources import RedisResource


def _to_arrow(obj) -> pa.Table:
    if isinstance(obj, pa.Table):
        return obj
    if isinstance(obj, pd.DataFrame):
        return pa.Table.from_pandas(obj, preserve_index=False)
    raise TypeError(
        f"RedisIOManager stores pandas DataFrames and pyarrow Tables, not {type(obj).__name__}"
    )


def _record(asset_key: dg.AssetKey):
    try:
        return dataset(asset_key.to_user_string())
    except KeyError as exc:
        raise dg.Failure(f"RedisIOManager stores registered datasets only: {exc.args[0]}") from None


def _dimension_names(partitions_def: dg.PartitionsDefinition) -> list[str]:
    if isinstance(partitions_def, dg.MultiPartitionsDefinition):
        return [dim.name for dim in partitions_def.partitions_defs]
    if isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
        return ["day"]
    return ["partition"]


class RedisIOManager(dg.ConfigurableIOManager):
    """Stores pandas DataFrames and Arrow tables in Redis as Arrow IPC (zstd), per partition,
    as the dataset registry says."""

    redis: RedisResource

    # writing --------------------------------------------------------------------------------
    def handle_output(self, context: dg.OutputContext, obj) -> None:
        if obj is None:
            return
        table = _to_arrow(obj)  # converted once; partitions are zero-copy slices of it
        path = context.asset_key.path
        record = _record(context.asset_key)
        meta = context.definition_metadata or {}

        if context.has_asset_partitions:
            partition_keys = list(context.asset_partition_keys)
            if len(partition_keys) == 1:
                slices = {partition_keys[0]: compact_dictionaries(table)}
            else:
                columns = self._partition_columns(context, record.partition_columns)
                slices = split_by_partition(
                    table,
                    columns,
                    expected=partition_keys,
                    value_maps=self._site_keys(context, columns, partition_keys),
                )
        else:
            slices = {None: compact_dictionaries(table)}

        assets = self.redis.asset_store()
        written = assets.save(path, slices)
        ttl = assets.lifetimes.seconds(record.lifetime)
        if len(slices) > 1:
            # a chunk: its figures are the run's, not each partition's (the asset adds those)
            context.log.info(
                f"{context.asset_key.to_user_string()}: {len(slices)} partitions,"
                f" {table.num_rows:,} rows, {written:,} bytes stored"
            )
            metadata: dict = {}
        else:
            metadata = {"dagster/row_count": table.num_rows, "stored_bytes": written}
        # an asset that declares its schema in its definition does not repeat it in every
        # partition's materialization event (a chunk run writes hundreds of them)
        if "dagster/column_schema" not in meta:
            metadata["dagster/column_schema"] = column_schema(table.schema, COLUMN_DESCRIPTIONS)
        if ttl:
            metadata["ttl_days"] = round(ttl / 86400, 2)
        context.add_output_metadata(metadata)

    @staticmethod
    def _site_keys(
        context: dg.OutputContext, columns: list[str], partition_keys: list[str]
    ) -> dict[str, dict[str, str]]:
        """The rows hold site ids; the `site` partitions are keyed `<name>_<site id>`: map each
        id to the key of this step's partitions."""
        dims = _dimension_names(context.asset_partitions_def)
        if SITE_PARTITIONS not in dims:
            return {}
        at = dims.index(SITE_PARTITIONS)
        keys = {split_partition_key(k)[at] for k in partition_keys}
        return {columns[at]: {site_id_of(k): k for k in keys}}

    def _partition_columns(self, context: dg.OutputContext, mapping: Mapping) -> list[str]:
        dims = _dimension_names(context.asset_partitions_def)
        if set(dims) - set(mapping):
            raise dg.Failure(
                f"asset {context.asset_key.to_user_string()} writes {len(context.asset_partition_keys)}"
                " partitions in one step but its record in storage/datasets.py does not name the"
                f" column of each partition dimension ({', '.join(dims)})"
            )
        return [mapping[d] for d in dims]

    # reading --------------------------------------------------------------------------------
    def load_input(self, context: dg.InputContext):
        path = context.asset_key.path
        if context.has_asset_partitions:
            partition_keys: Sequence[str | None] = list(context.asset_partition_keys)
        else:
            partition_keys = [None]
        allow_missing = bool((context.definition_metadata or {}).get(ALLOW_MISSING))
        loaded = self.redis.asset_store().load(path, partition_keys, allow_missing=allow_missing)
        if loaded.missing:
            context.log.warning(
                f"{context.asset_key.to_user_string()}: {len(loaded.missing)} of"
                f" {len(partition_keys)} upstream partitions have no stored value"
                f" (e.g. {loaded.missing[0]}); loading the rest"
            )
        missing = [str(k) for k in loaded.missing]
        if self._wants_arrow(context):
            table = loaded.table if loaded.found else pa.table({})
            return table.replace_schema_metadata(
                {**(table.schema.metadata or {}), MISSING_PARTITIONS: ",".join(missing)}
            )
        frame = loaded.table.to_pandas() if loaded.found else pd.DataFrame()
        frame.attrs[MISSING_PARTITIONS] = missing  # the asset can tell "none stored" from "empty"
        return frame

    @staticmethod
    def _wants_arrow(context: dg.InputContext) -> bool:
        typing_type = getattr(context.dagster_type, "typing_type", None)
        return typing_type is pa.Table
