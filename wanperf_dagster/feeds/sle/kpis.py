"""A site's WAN SLE per day and per hour, with the bands (healthy, fair, degraded, critical)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from wanperf_dagster.contract import SLE_METRICS
from wanperf_dagster.kpi import DEFAULT_CONFIG, KpiConfig
from wanperf_dagster.kpi.insights import SLE_BAND_FLOORS, empty_frame, sle_band

SITE_SLE_COLUMNS = [
    "day",
    "site_id",
    "site_name",
    "region",
    "hours",
    *(c for m in SLE_METRICS for c in (m, f"{m}_min", f"{m}_band")),
    "worst_hour",
    "hours_below_fair",
    "num_gateways",
    "num_clients_max",
]


def site_sle_daily(hourly: pd.DataFrame, config: KpiConfig | None = None) -> pd.DataFrame:
    """One row per site and UTC day from the hourly WAN SLE: each score's mean over the hours
    reported and its worst hour, the band of the mean, the hour where WAN link health was
    lowest, and the hours below fair (WAN link health < 0.80)."""
    config = config or DEFAULT_CONFIG
    if hourly.empty:
        return empty_frame(SITE_SLE_COLUMNS, {"day": object, "worst_hour": "datetime64[ns, UTC]"})
    h = hourly.reset_index(drop=True)  # rows are picked by label below
    h = h.assign(day=h["hour"].dt.date, site_id=h["site_id"].astype(str))
    grouped = h.groupby(["day", "site_id"], sort=True)
    out = grouped.size().rename("hours").to_frame()
    for m in SLE_METRICS:
        values = pd.to_numeric(h[m], errors="coerce")
        out[m] = values.groupby([h["day"], h["site_id"]]).mean()
        out[f"{m}_min"] = values.groupby([h["day"], h["site_id"]]).min()
    worst = h.loc[
        pd.to_numeric(h["wan_link_health"], errors="coerce")
        .fillna(np.inf)
        .groupby([h["day"], h["site_id"]])
        .idxmin()
    ]
    out["worst_hour"] = worst.set_index(["day", "site_id"])["hour"]
    below = pd.to_numeric(h["wan_link_health"], errors="coerce") < SLE_BAND_FLOORS[1]
    out["hours_below_fair"] = below.groupby([h["day"], h["site_id"]]).sum().astype(np.int64)
    out["num_gateways"] = grouped["num_gateways"].max()
    out["num_clients_max"] = grouped["num_clients"].max()
    out = out.reset_index()
    for m in SLE_METRICS:
        out[f"{m}_band"] = sle_band(out[m])
    out["site_name"] = out["site_id"].map(lambda s: config.site_names.get(s, s))
    out["region"] = out["site_id"].map(lambda s: config.site_regions.get(s, "unknown"))
    return out[SITE_SLE_COLUMNS]


SITE_SLE_HOURLY_COLUMNS = [
    "hour",
    "site_id",
    "site_name",
    "region",
    *(c for m in SLE_METRICS for c in (m, f"{m}_band")),
    "num_gateways",
    "num_clients",
]


def site_sle_hourly(hourly: pd.DataFrame, config: KpiConfig | None = None) -> pd.DataFrame:
    """The hourly WAN SLE as Mist reported it, with each score's band and the site's name and
    region, sorted by site and hour."""
    config = config or DEFAULT_CONFIG
    if hourly.empty:
        return empty_frame(SITE_SLE_HOURLY_COLUMNS, {"hour": "datetime64[ns, UTC]"})
    out = hourly.assign(site_id=hourly["site_id"].astype(str)).sort_values(["site_id", "hour"])
    for m in SLE_METRICS:
        out[m] = pd.to_numeric(out[m], errors="coerce")
        out[f"{m}_band"] = sle_band(out[m])
    out["site_name"] = out["site_id"].map(lambda s: config.site_names.get(s, s))
    out["region"] = out["site_id"].map(lambda s: config.site_regions.get(s, "unknown"))
    return out[SITE_SLE_HOURLY_COLUMNS].reset_index(drop=True)
