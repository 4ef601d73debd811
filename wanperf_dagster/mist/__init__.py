"""Mist API client, record normalisation, the sweep and inventory (no Dagster imports); the WAN
insight feeds' fetchers are in `feeds/`."""

from .client import (
    MistAuthError,
    MistBudgetExhausted,
    MistClient,
    MistError,
    MistNotFoundError,
    MistPermissionError,
    MistRateLimited,
    MistRequestError,
    base_url_for,
    split_tokens,
)
from .inventory import Inventory, fetch_inventory
from .orgs import OrgAccess, discover_orgs
from .records import normalise_page, normalise_record
from .sweep import (
    OrgSweep,
    PageEvent,
    SweepConfig,
    SweepLockedError,
    SweepLockLostError,
    SweepRunawayError,
    refresh_stale_sites,
    run_sweep,
    sweep_orgs,
)

__all__ = [
    "Inventory",
    "MistAuthError",
    "MistBudgetExhausted",
    "MistClient",
    "MistError",
    "MistNotFoundError",
    "MistPermissionError",
    "MistRateLimited",
    "MistRequestError",
    "OrgAccess",
    "OrgSweep",
    "PageEvent",
    "SweepConfig",
    "SweepLockLostError",
    "SweepLockedError",
    "SweepRunawayError",
    "base_url_for",
    "discover_orgs",
    "fetch_inventory",
    "normalise_page",
    "normalise_record",
    "refresh_stale_sites",
    "run_sweep",
    "split_tokens",
    "sweep_orgs",
]
