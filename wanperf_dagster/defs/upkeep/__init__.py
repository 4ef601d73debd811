"""Upkeep: what keeps the instance from growing for good (old runs and their events)."""
