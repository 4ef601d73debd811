"""Carrier SLA reports (no Dagster): the circuits' contracts from the user's file, and a month's
measured availability, outages and credits against them."""

from .contracts import CONTRACT_COLUMNS, SlaFileError, load_contracts, load_maintenance
from .report import circuit_sla, outages, provider_sla

__all__ = [
    "CONTRACT_COLUMNS",
    "SlaFileError",
    "circuit_sla",
    "load_contracts",
    "load_maintenance",
    "outages",
    "provider_sla",
]
