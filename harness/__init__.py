"""What the tests and the benchmarks both drive the project with, and neither owns: a Valkey
cluster of three primaries, a Postgres database made for one Dagster instance, a chunked backfill
submitted exactly as the automation sensor submits one (private Dagster APIs, pinned with the
version). Not installed: `python -m pytest` and `python -m bench` find it from the project root.
"""
