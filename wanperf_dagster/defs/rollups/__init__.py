"""Rollups: regions, the org, offenders and trends per day; circuits per week and month."""
