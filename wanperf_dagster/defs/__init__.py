"""The code location's definitions, one folder per domain, found by `load_from_defs_folder`.

Each folder holds its assets, their checks and their automation side by side:
`ingest/` (the Mist API into Redis), `status/` (what is wrong now), `kpis/` (site-day snapshots and
circuit KPIs, and the nightly and rolling backfills), `rollups/` (region, org, offenders, trends,
weeks and months), `upkeep/` (old runs and their events). Resources, the IO manager and
partitions live in `wanperf_dagster.dagster_io`.
"""
