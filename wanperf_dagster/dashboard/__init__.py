"""The NOC's own view of its WAN (`wanperf dashboard`): overview, site search, per-site time
series, open alerts; read only through the storage API. No Dagster here."""

from .app import build_app
from .data import DashboardData, Range

__all__ = ["DashboardData", "Range", "build_app"]
