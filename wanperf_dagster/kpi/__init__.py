"""KPI engine: pure, vectorised pandas/numpy maths on `site_snapshots` samples (no Dagster, no Redis)."""

from . import forecast
from .checks import RULES as BOUNDS_RULES
from .checks import bounds_violations
from .circuit import (
    SNAPSHOT_COLUMNS,
    circuit_kpis,
    daily_circuit_kpis,
    empty_kpis,
    hourly_circuit_kpis,
    kpi_columns,
    window_circuit_kpis,
)
from .columns import COLUMN_DESCRIPTIONS, KPI_DESCRIPTIONS
from .config import DEFAULT_CONFIG, KpiConfig, first_port_is_primary
from .existence import lifetimes
from .forecast import capacity_forecast
from .insights import SITE_CAUSES, site_wan_health, sle_band
from .outages import apply_port_events, exact_failover
from .rollups import (
    SITES_AT_ONCE,
    WINDOW_HOURS,
    chronic_offenders,
    circuit_trends,
    kpi_measures,
    offender_rows,
    org_daily_kpis,
    org_offender_rows,
    period_circuit_kpis,
    region_daily_kpis,
    site_daily_kpis,
    site_slices,
    sliced_period_kpis,
    tie_breaker,
    top_offenders,
    window_kpis,
    with_orgs,
    with_state_seconds,
)
from .site_day import site_day_kpis

__all__ = [
    "BOUNDS_RULES",
    "COLUMN_DESCRIPTIONS",
    "DEFAULT_CONFIG",
    "KPI_DESCRIPTIONS",
    "SITES_AT_ONCE",
    "SITE_CAUSES",
    "SNAPSHOT_COLUMNS",
    "WINDOW_HOURS",
    "KpiConfig",
    "apply_port_events",
    "bounds_violations",
    "capacity_forecast",
    "chronic_offenders",
    "circuit_kpis",
    "circuit_trends",
    "daily_circuit_kpis",
    "empty_kpis",
    "exact_failover",
    "first_port_is_primary",
    "forecast",
    "hourly_circuit_kpis",
    "kpi_columns",
    "kpi_measures",
    "lifetimes",
    "offender_rows",
    "org_daily_kpis",
    "org_offender_rows",
    "period_circuit_kpis",
    "region_daily_kpis",
    "site_daily_kpis",
    "site_day_kpis",
    "site_slices",
    "site_wan_health",
    "sle_band",
    "sliced_period_kpis",
    "tie_breaker",
    "top_offenders",
    "window_circuit_kpis",
    "window_kpis",
    "with_orgs",
    "with_state_seconds",
]
