"""Carrier SLA reports (no Dagster): the circuits' contracts from the user's file, and a month's
measured availability, outages and credits against them."""

from .contracts import CONTRACT_COLUMNS, SlaFileError, load_contracts, load_maintenance
from .report import business_hours_kpis, circuit_sla, outages, provider_sla, with_forecast
from .windows import CALENDAR, Window, parse_window

__all__ = [
    "CALENDAR",
    "CONTRACT_COLUMNS",
    "SlaFileError",
    "Window",
    "business_hours_kpis",
    "circuit_sla",
    "load_contracts",
    "load_maintenance",
    "outages",
    "parse_window",
    "provider_sla",
    "with_forecast",
]
