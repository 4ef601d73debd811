"""Each gateway's day from its status samples: connected, disconnected (offline or rebooting) and
unknown minutes, its offline periods, its restarts. A slot nobody read is unknown, never
connected."""

from __future__ import annotations

import calendar

import numpy as np
import pandas as pd

from wanperf_dagster.kpi import DEFAULT_CONFIG, KpiConfig
from wanperf_dagster.kpi.insights import empty_frame

GATEWAY_DAY_COLUMNS = [
    "day",
    "site_id",
    "site_name",
    "region",
    "mac",
    "samples",
    "connected_minutes",
    "disconnected_minutes",
    "unknown_minutes",
    "availability_pct",
    "offline_periods",
    "longest_offline_minutes",
    "reboots",
    "last_status",
]
INT_COLUMNS = GATEWAY_DAY_COLUMNS[5:9] + GATEWAY_DAY_COLUMNS[10:13]


def gateway_days(
    samples: pd.DataFrame,
    interval_minutes: int,
    config: KpiConfig | None = None,
    now: float | None = None,
    expected: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per gateway and UTC day of its status samples (one per slot; a repeated slot
    counts once), and one for each gateway `expected` (`day`, `site_id`, `mac`: those its site
    had that day) that has none: a gateway nobody read is all unknown, never gone. Each sample
    stands for its slot; the minutes of the day (so far, on today: `now`) no sample stands for
    are unknown."""
    config = config or DEFAULT_CONFIG
    out = _sampled_days(samples, interval_minutes)
    if expected is not None and len(expected):
        unread = expected[["day", "site_id", "mac"]].drop_duplicates(["day", "mac"])
        unread = unread.merge(out[["day", "mac"]], how="left", indicator=True)
        unread = unread[unread["_merge"] == "left_only"].drop(columns="_merge")
        out = pd.concat([out, unread], ignore_index=True) if len(out) else unread
    if out.empty:
        return empty_frame(GATEWAY_DAY_COLUMNS, {"day": object, "last_status": object})
    out = out.reset_index(drop=True)
    for column in INT_COLUMNS:  # an unread gateway: nothing counted (its day is unknown)
        if column != "unknown_minutes":
            present = out[column] if column in out else pd.Series(0, index=out.index)
            out[column] = pd.to_numeric(present, errors="coerce").fillna(0)
    status = out.get("last_status", pd.Series(None, index=out.index)).astype(object)
    out["last_status"] = status.where(status.notna(), None)
    elapsed = np.full(len(out), 1440.0)
    if now is not None:
        day_start = out["day"].map(lambda d: calendar.timegm(d.timetuple())).to_numpy(float)
        elapsed = np.clip((now - day_start) / 60, 0, 1440)
    observed = out["connected_minutes"] + out["disconnected_minutes"]
    out["unknown_minutes"] = np.maximum(elapsed - observed, 0).round()
    out["availability_pct"] = np.where(
        observed > 0, out["connected_minutes"] / observed.where(observed > 0, 1) * 100, np.nan
    )
    for column in INT_COLUMNS:
        out[column] = out[column].astype(np.int64)
    out["site_name"] = out["site_id"].map(lambda x: config.site_names.get(x, x))
    out["region"] = out["site_id"].map(lambda x: config.site_regions.get(x, "unknown"))
    return out.sort_values(["day", "site_id", "mac"])[GATEWAY_DAY_COLUMNS].reset_index(drop=True)


def _sampled_days(samples: pd.DataFrame, interval_minutes: int) -> pd.DataFrame:
    """The gateways' days their samples give: minutes, offline runs, restarts."""
    if samples.empty:
        return pd.DataFrame(columns=["day", "mac", "site_id"])
    s = (
        samples.drop_duplicates(["ts", "mac"], keep="last")
        .sort_values(["mac", "ts"])
        .reset_index(drop=True)  # the runs below align by position
    )
    s = s.assign(
        day=s["ts"].dt.date,
        down=s["status"].astype(str) != "connected",
        uptime=pd.to_numeric(s["uptime"], errors="coerce"),
    )
    keys = ["day", "mac"]
    g = s.groupby(keys, sort=True)
    out = g.agg(
        site_id=("site_id", "last"),
        samples=("down", "size"),
        down_samples=("down", "sum"),
        last_status=("status", "last"),
    )
    out["connected_minutes"] = (out["samples"] - out["down_samples"]) * interval_minutes
    out["disconnected_minutes"] = out.pop("down_samples") * interval_minutes
    # runs of disconnected samples: a run starts where the previous slot of the day was not one
    starts = s["down"] & ~s.groupby(keys)["down"].shift(1, fill_value=False)
    run_id = starts.groupby([s["day"], s["mac"]]).cumsum()
    runs = s[s["down"]].groupby([s["day"], s["mac"], run_id]).size()
    out["offline_periods"] = starts.groupby([s["day"], s["mac"]]).sum()
    longest = runs.groupby(level=[0, 1]).max() * interval_minutes
    out["longest_offline_minutes"] = longest.reindex(out.index).fillna(0)
    # a restart: the uptime went back between two connected slots of the day
    up = s[~s["down"] & s["uptime"].notna()]
    went_back = up["uptime"] < up.groupby(keys)["uptime"].shift(1)
    out["reboots"] = went_back.groupby([up["day"], up["mac"]]).sum().reindex(out.index).fillna(0)
    return out.reset_index()
