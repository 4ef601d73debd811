"""Mist API client, record normalisation, the sweep and inventory (no Dagster imports)."""

from .client import (
    MistAuthError,
    MistBudgetExhausted,
    MistClient,
    MistError,
    MistNotFoundError,
    MistPermissionError,
    MistRequestError,
    base_url_for,
)
from .inventory import Inventory, fetch_inventory
from .records import RAW_FIELDS, normalise_page, normalise_record
from .settings import MistSettings, client_from_env
from .sweep import PageEvent, SweepConfig, SweepLockedError, refresh_stale_sites, run_sweep

__all__ = [
    "RAW_FIELDS",
    "Inventory",
    "MistAuthError",
    "MistBudgetExhausted",
    "MistClient",
    "MistError",
    "MistNotFoundError",
    "MistPermissionError",
    "MistRequestError",
    "MistSettings",
    "PageEvent",
    "SweepConfig",
    "SweepLockedError",
    "base_url_for",
    "client_from_env",
    "fetch_inventory",
    "normalise_page",
    "normalise_record",
    "refresh_stale_sites",
    "run_sweep",
]
