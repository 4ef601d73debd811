"""Loading the history into a warehouse a user already runs: Parquet is the interchange; a DuckDB
database file is the default target, Postgres (plain COPY) the second."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv

from .parquet import HistoryStore


def export_history(
    history: HistoryStore,
    target: str,
    assets: Sequence[str],
    on_progress: Callable[[str], None] | None = None,
) -> Iterator[tuple[str, int]]:
    """Copy each history asset into `target` (`duckdb:FILE` or `postgresql://…`), replacing the
    table an earlier export left; yields (asset, rows) as each is done."""
    if target.startswith("duckdb:"):
        yield from _to_duckdb(history, target.removeprefix("duckdb:"), assets)
    elif target.startswith(("postgresql://", "postgres://")):
        yield from _to_postgres(history, target, assets, on_progress)
    else:
        raise ValueError(f"unknown warehouse {target!r}: use duckdb:FILE or postgresql://...")


def _to_duckdb(
    history: HistoryStore, path: str, assets: Sequence[str]
) -> Iterator[tuple[str, int]]:
    con = duckdb.connect(path)
    try:
        for asset in assets:
            dataset = history.dataset(asset)
            if dataset is None:
                continue
            con.register("source", dataset)
            con.sql(f'CREATE OR REPLACE TABLE "{asset}" AS SELECT * FROM source')
            con.unregister("source")
            rows = con.sql(f'SELECT count(*) FROM "{asset}"').fetchall()[0][0]
            yield asset, rows
    finally:
        con.close()


_PG_TYPES = [
    (pa.types.is_boolean, "boolean"),
    (pa.types.is_integer, "bigint"),
    (pa.types.is_floating, "double precision"),
    (pa.types.is_timestamp, "timestamptz"),
    (pa.types.is_date, "date"),
]


def _pg_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    return next((pg for test, pg in _PG_TYPES if test(arrow_type)), "text")


def _to_postgres(
    history: HistoryStore,
    url: str,
    assets: Sequence[str],
    on_progress: Callable[[str], None] | None,
) -> Iterator[tuple[str, int]]:
    import psycopg2

    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        for asset in assets:
            dataset = history.dataset(asset)
            if dataset is None:
                continue
            schema = dataset.schema
            columns = [f for f in schema if not pa.types.is_nested(f.type)]
            cur.execute(f'DROP TABLE IF EXISTS "{asset}"')
            cur.execute(
                f'CREATE TABLE "{asset}" ('
                + ", ".join(f'"{f.name}" {_pg_type(f.type)}' for f in columns)
                + ")"
            )
            rows = 0
            names = [f.name for f in columns]
            for batch in dataset.to_batches(columns=names, batch_size=50_000):
                table = pa.Table.from_batches([batch])
                table = pa.table(
                    {
                        n: (c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c)
                        for n, c in zip(table.column_names, table.columns, strict=True)
                    }
                )
                buffer = io.BytesIO()
                pacsv.write_csv(table, buffer, pacsv.WriteOptions(include_header=False))
                buffer.seek(0)
                cur.copy_expert(
                    f'COPY "{asset}" ({", ".join(chr(34) + n + chr(34) for n in names)})'
                    " FROM STDIN WITH (FORMAT csv)",
                    buffer,
                )
                rows += table.num_rows
                if on_progress:
                    on_progress(f"  {asset}: {rows:,} rows so far")
            yield asset, rows
