"""Each VPN peer path's quality per day: availability, latency, jitter, loss, MOS, minutes over
the quality tiers (the circuits' tiers)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from wanperf_dagster.contract import PATH_MEASURES
from wanperf_dagster.kpi import DEFAULT_CONFIG, KpiConfig
from wanperf_dagster.kpi.config import QUALITY_TIERS
from wanperf_dagster.kpi.insights import empty_frame

PATH_KPI_COLUMNS = [
    "day",
    "site_id",
    "site_name",
    "region",
    "path_id",
    "circuit_id",
    "peer_site_id",
    "type",
    "samples",
    "up_minutes",
    "down_minutes",
    "availability_pct",
    *(f"{n}_{s}_{u}" for n, _, u in PATH_MEASURES for s in ("avg", "p95", "max")),
    "mos_avg",
    "mos_min",
    *(f"{n}_minutes_{t}" for n, _, _ in PATH_MEASURES for t in QUALITY_TIERS),
]


def vpn_path_kpis(
    samples: pd.DataFrame, interval_minutes: int, config: KpiConfig | None = None
) -> pd.DataFrame:
    """One row per VPN path and UTC day from its samples (one per slot; a repeated slot counts
    once): availability (slots up over slots seen, each worth the interval), avg/p95/max
    latency, jitter and loss over the slots up, MOS mean and minimum, and minutes at or over
    each quality tier (the circuits' tiers)."""
    config = config or DEFAULT_CONFIG
    if samples.empty:
        return empty_frame(PATH_KPI_COLUMNS, {"day": object})
    s = samples.drop_duplicates(["ts", "path_id"], keep="last").copy()
    s["day"] = s["ts"].dt.date
    s["up"] = s["up"].astype(bool)
    keys = ["day", "path_id"]
    g = s.groupby(keys, sort=True)
    out = g.agg(
        site_id=("site_id", "first"),
        circuit_id=("circuit_id", "first"),
        peer_site_id=("peer_site_id", "first"),
        type=("type", "first"),
        samples=("up", "size"),
        up_samples=("up", "sum"),
    )
    out["up_minutes"] = (out.pop("up_samples") * interval_minutes).astype(np.int64)
    out["down_minutes"] = (out["samples"] * interval_minutes - out["up_minutes"]).astype(np.int64)
    out["availability_pct"] = out["up_minutes"] / (out["samples"] * interval_minutes) * 100
    up = s[s["up"]]
    tiers = {"latency": config.latency_ms, "jitter": config.jitter_ms, "loss": config.loss_pct}
    for name, column, unit in PATH_MEASURES:
        values = pd.to_numeric(up[column], errors="coerce")
        by = values.groupby([up["day"], up["path_id"]])
        out[f"{name}_avg_{unit}"] = by.mean()
        out[f"{name}_p95_{unit}"] = by.quantile(0.95)
        out[f"{name}_max_{unit}"] = by.max()
        for tier, floor in zip(QUALITY_TIERS, tiers[name], strict=True):
            over = (values >= floor).groupby([up["day"], up["path_id"]]).sum() * interval_minutes
            out[f"{name}_minutes_{tier}"] = over.reindex(out.index).fillna(0).astype(np.int64)
    mos = pd.to_numeric(up["mos"], errors="coerce")
    out["mos_avg"] = mos.groupby([up["day"], up["path_id"]]).mean()
    out["mos_min"] = mos.groupby([up["day"], up["path_id"]]).min()
    out = out.reset_index()
    out["site_name"] = out["site_id"].map(lambda x: config.site_names.get(x, x))
    out["region"] = out["site_id"].map(lambda x: config.site_regions.get(x, "unknown"))
    return out[PATH_KPI_COLUMNS]
