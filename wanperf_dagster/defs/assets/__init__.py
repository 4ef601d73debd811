"""Asset definitions, one module per domain: ingest (API → Redis), kpis (snapshots → rollups)."""
