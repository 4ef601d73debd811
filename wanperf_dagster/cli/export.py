"""`wanperf export`: a stored day of an asset as CSV or Parquet."""

from __future__ import annotations

import argparse
import sys

from .common import DAY_HELP, RAW, load_day, parse_day, plain_columns


def add_parser(sub) -> None:
    export = sub.add_parser(
        "export",
        help="write a stored asset partition as CSV or Parquet",
        description="Export an asset's stored rows for a day (all sites, or one) from Redis, with"
        " each site's name and region beside its id.",
        epilog="examples:\n  wanperf export --asset circuit_kpis --format csv > kpis.csv\n"
        "  wanperf export --asset site_snapshots --day -2 --site BARCELONA-00002\n"
        "  wanperf export --asset org_kpis --day 2026-11-26 --format parquet --output org.parquet",
        formatter_class=RAW,
    )
    export.add_argument(
        "--asset",
        required=True,
        help="a stored asset partitioned by day x site or by day (circuit_kpis, org_kpis, ...)",
    )
    export.add_argument("--day", type=parse_day, default="yesterday", help=DAY_HELP)
    export.add_argument("--site", help="one site: its name, id or partition key (per-site assets)")
    export.add_argument("--format", choices=["csv", "parquet"], default="csv")
    export.add_argument("--output", "-o", help="file to write (CSV defaults to stdout)")
    export.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    table = load_day(args.asset, args.day, args.site)
    if args.format == "parquet":
        out = args.output or f"{args.asset}_{args.day}.parquet"
        pq.write_table(table, out)
        print(f"wrote {table.num_rows:,} rows to {out}", file=sys.stderr)
        return 0
    table = plain_columns(table)  # dictionary (categorical) columns: CSV has no such thing
    if args.output:
        pacsv.write_csv(table, args.output)
        print(f"wrote {table.num_rows:,} rows to {args.output}", file=sys.stderr)
    else:
        pacsv.write_csv(table, sys.stdout.buffer)
    return 0
