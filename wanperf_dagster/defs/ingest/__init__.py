"""Ingest: the only assets that talk to the Mist API (one at a time, through the `mist_api` pool)."""
