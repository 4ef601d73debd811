"""`wanperf warehouse`: the history into a warehouse."""

from __future__ import annotations

import argparse

from wanperf_dagster.settings import get_settings, redact_url

from .common import RAW, asset_store


def add_parser(sub) -> None:
    warehouse = sub.add_parser(
        "warehouse",
        help="load the history into a warehouse: a DuckDB file, or Postgres",
        description="Copy every history dataset into a warehouse, one table each, replacing"
        " what an earlier export left: a DuckDB database file (the default,"
        " <data dir>/history.duckdb) or a Postgres database (plain COPY; the password from the"
        " URL or PGPASSWORD, never printed).",
        epilog="examples:\n  wanperf warehouse\n  wanperf warehouse --to duckdb:/srv/wan.duckdb\n"
        "  wanperf warehouse --to postgresql://wanperf@db.example/wan",
        formatter_class=RAW,
    )
    warehouse.add_argument("--to", help="duckdb:FILE or postgresql://user@host/db")
    warehouse.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    assets = asset_store()
    if assets.history is None:
        raise SystemExit("wanperf: no history tier is configured")
    target = args.to or f"duckdb:{get_settings().data_dir / 'history.duckdb'}"
    for asset, rows in assets.export_history(target, on_progress=print):
        print(f"  {asset}: {rows:,} rows")
    print(f"exported to {redact_url(target)}")
    return 0
