"""DuckDB over the history tier: a view per asset, and the 13-month trends."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.fs as pafs

from .parquet import HistoryStore

HISTORY_ASSETS = (
    "site_snapshots",
    "circuit_kpis",
    "circuit_kpis_hourly",
    "port_events",
    "site_sle",
    "site_sle_hourly",
    "vpn_path_kpis",
)


def history_connection(history: HistoryStore, assets=HISTORY_ASSETS) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with one view per asset over its Parquet history. Local files are
    read by DuckDB's own Parquet reader (measured 20-30 % faster on the 13-month query); any
    other filesystem (S3 included) through pyarrow's dataset, so no DuckDB extension is needed."""
    con = duckdb.connect(":memory:")
    local = isinstance(history.fs, pafs.LocalFileSystem)
    for asset in assets:
        if local:
            files, pending = history.files(asset)
            parts = []
            if files:
                con.read_parquet(files, union_by_name=True).create_view(f"_{asset}_files")
                parts.append(f'SELECT * FROM "_{asset}_files"')
            if pending:  # days a writer has not cleaned up yet: each site from its newest part
                table, _ = history.read_days(asset, pending)
                if table is not None:
                    con.register(f"_{asset}_pending", table)
                    parts.append(f'SELECT * FROM "_{asset}_pending"')
            if parts:
                con.execute(f'CREATE VIEW "{asset}" AS ' + " UNION ALL BY NAME ".join(parts))
            continue
        dataset = history.dataset(asset)
        if dataset is not None:
            con.register(asset, dataset)
    return con


def thirteen_month_trends(
    con: duckdb.DuckDBPyConnection, end_month: str, months: int = 13, threshold: float = 80.0
) -> pa.Table:
    """Per circuit over the `months` calendar months up to `end_month` (YYYY-MM-01): each
    month's p95 utilisation (the 95th percentile of its daily p95s) and availability (from
    summed down and observed seconds: exact where port events covered a day), the least-squares
    slope of the monthly p95 (points per day), and the days until it crosses `threshold` at that
    slope (null when not rising, or already above)."""
    stored = {row[0] for row in con.sql("DESCRIBE circuit_kpis").fetchall()}
    # days stored before the seconds existed count their sampled minutes
    down, seen = "down_minutes * 60", "(up_minutes + down_minutes) * 60"
    if "observed_seconds" in stored:
        down = f"coalesce(down_seconds, {down})"
        seen = f"coalesce(observed_seconds, {seen})"
    sql = f"""
    WITH daily AS (
        SELECT circuit_id::VARCHAR AS circuit_id, site_id::VARCHAR AS site_id,
               site_name::VARCHAR AS site_name, region::VARCHAR AS region,
               CAST(day AS DATE) AS day, util_p95_pct,
               {down} AS down_s, {seen} AS seen_s
        FROM circuit_kpis
        WHERE CAST(day AS DATE) >= (DATE '{end_month}' - INTERVAL {months - 1} MONTH)
          AND CAST(day AS DATE) < (DATE '{end_month}' + INTERVAL 1 MONTH)
    ),
    monthly AS (
        SELECT circuit_id, any_value(site_id) AS site_id, any_value(site_name) AS site_name,
               any_value(region) AS region, date_trunc('month', day) AS month,
               quantile_cont(util_p95_pct, 0.95) AS p95_util_pct,
               CASE WHEN sum(seen_s) > 0
                    THEN (sum(seen_s) - sum(down_s)) * 100.0 / sum(seen_s) END
                   AS availability_pct
        FROM daily GROUP BY circuit_id, date_trunc('month', day)
    ),
    fitted AS (
        SELECT circuit_id, any_value(site_id) AS site_id, any_value(site_name) AS site_name,
               any_value(region) AS region, count(p95_util_pct) AS months,
               regr_slope(p95_util_pct, epoch(month) / 86400.0) AS slope_per_day,
               arg_max(p95_util_pct, month) AS latest_p95_pct,
               list(struct_pack(month := month, p95 := p95_util_pct,
                                availability := availability_pct) ORDER BY month) AS by_month
        FROM monthly GROUP BY circuit_id
    )
    SELECT circuit_id, site_id, site_name, region, months, by_month,
           latest_p95_pct, slope_per_day,
           CASE WHEN slope_per_day > 0 AND latest_p95_pct < {threshold}
                THEN ({threshold} - latest_p95_pct) / slope_per_day END AS days_to_threshold
    FROM fitted ORDER BY days_to_threshold NULLS LAST, latest_p95_pct DESC
    """
    return con.sql(sql).to_arrow_table()
