"""`wanperf query`: SQL over the whole history."""

from __future__ import annotations

import argparse
import sys

from .common import RAW, asset_store, plain_columns, positive_count


def add_parser(sub) -> None:
    from wanperf_dagster.storage import history_datasets

    query = sub.add_parser(
        "query",
        help="SQL over the whole history (DuckDB over the Parquet tier)",
        description="Run a DuckDB query over the history tier: every materialized site-day, with"
        f" one view per history dataset ({', '.join(history_datasets())}). Prints a table, or"
        " writes CSV or Parquet.",
        epilog="examples:\n"
        '  wanperf query "SELECT day, avg(availability_pct) FROM circuit_kpis GROUP BY day"\n'
        "  wanperf query \"SELECT * FROM circuit_kpis WHERE site_name = 'LYON-00006'\" --format csv\n"
        '  wanperf query "SELECT * FROM circuit_kpis_hourly" --format parquet -o hourly.parquet',
        formatter_class=RAW,
    )
    query.add_argument("sql", help="the query (DuckDB SQL)")
    query.add_argument("--format", choices=["table", "csv", "parquet"], default="table")
    query.add_argument("--output", "-o", help="file to write (CSV defaults to stdout)")
    query.add_argument("--rows", type=positive_count, default=50, help="rows a table shows")
    query.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import duckdb
    import pandas as pd
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    assets = asset_store()
    try:
        table = assets.history_query(args.sql)
    except duckdb.Error as exc:
        raise SystemExit(f"wanperf: the query failed: {str(exc).splitlines()[0]}") from None
    if args.format == "parquet":
        if not args.output:
            raise SystemExit("wanperf: --format parquet needs --output FILE")
        pq.write_table(table, args.output)
        print(f"wrote {table.num_rows:,} rows to {args.output}", file=sys.stderr)
    elif args.format == "csv":
        pacsv.write_csv(plain_columns(table), args.output or sys.stdout.buffer)
    else:
        frame = table.to_pandas()
        with pd.option_context("display.max_rows", args.rows, "display.width", 200):
            print(frame.head(args.rows).to_string(index=False) if len(frame) else "(no rows)")
        if len(frame) > args.rows:
            print(f"... {len(frame) - args.rows:,} more rows (--rows, or --format csv)")
    return 0
