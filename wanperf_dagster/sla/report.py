"""A month against the contracts: each circuit's measured availability (from the KPIs' exact
down and observed seconds, the same figures every other view shows), its outages (from the port
events and the gateways going offline, to the second), the maintenance windows left out, and the
credit the contract gives; then each provider's month."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

NO_CONTRACT = "(no contract)"
EPOCH = pd.Timestamp(0, tz="UTC")
OUTAGE_COLUMNS = ["circuit_id", "start", "end", "seconds", "began_before", "still_down"]
CIRCUIT_COLUMNS = [
    "circuit_id",
    "site_id",
    "site_name",
    "provider",
    "reference",
    "bandwidth_mbps",
    "sla_pct",
    "observed_seconds",
    "maintenance_seconds",
    "down_seconds",
    "down_in_maintenance_seconds",
    "availability_pct",
    "met",
    "shortfall_pct",
    "credit_pct",
    "outages",
    "longest_outage_seconds",
    "events_down_seconds",
    "util_p95_pct",
    "capacity",
]
DOWNSIZE_BELOW, UPGRADE_ABOVE = 10.0, 80.0  # % of the port's speed, the month's p95


def outages(events: pd.DataFrame, circuit_ids, start: float, end: float) -> pd.DataFrame:
    """Each outage of the circuits in [start, end): from a `down` (or its gateway going
    `offline`) to the next `up` (or `online`), clipped to the window; one still open at the end
    ends there (`still_down`), one whose first change is an `up` began before it (`began_before`).
    """
    wanted = set(circuit_ids)
    if events.empty or not wanted:
        return pd.DataFrame(columns=OUTAGE_COLUMNS)
    ts = (pd.to_datetime(events["ts"], utc=True) - EPOCH) / pd.Timedelta(seconds=1)
    frame = events.assign(ts=ts.to_numpy())
    ports = frame[frame["circuit_id"].notna() & frame["event"].isin(["down", "up"])]
    ports = ports[["ts", "circuit_id", "event"]]
    # a gateway offline takes each of its circuits down with it
    gateways = frame[frame["circuit_id"].isna() & frame["event"].isin(["offline", "online"])]
    by_mac: dict[str, list[str]] = {}
    for cid in wanted:
        by_mac.setdefault(str(cid).split(":", 1)[0], []).append(cid)
    spread = [
        (t, cid, "down" if e == "offline" else "up")
        for t, mac, e in zip(gateways["ts"], gateways["mac"], gateways["event"], strict=True)
        for cid in by_mac.get(str(mac), [])
    ]
    changes = pd.concat(
        [ports, pd.DataFrame(spread, columns=["ts", "circuit_id", "event"])], ignore_index=True
    )
    changes = changes[changes["circuit_id"].isin(wanted) & (changes["ts"] < end)]
    rows = []
    for cid, mine in changes.sort_values(["circuit_id", "ts"], kind="stable").groupby("circuit_id"):
        down_since, first = None, True
        for t, event in zip(mine["ts"], mine["event"], strict=True):
            if event == "down" and down_since is None:
                down_since = t
            elif event == "up":
                if down_since is None and first and t > start:
                    rows.append((cid, start, t, True, False))
                elif down_since is not None:
                    rows.append((cid, down_since, t, False, False))
                down_since = None
            first = False
        if down_since is not None:
            rows.append((cid, down_since, end, False, True))
    out = pd.DataFrame(rows, columns=["circuit_id", "start", "end", "began_before", "still_down"])
    out["start"] = out["start"].clip(lower=start)
    out = out[out["end"] > out["start"]]
    out["seconds"] = out["end"] - out["start"]
    return out[OUTAGE_COLUMNS].reset_index(drop=True)


def _overlap(a_start, a_end, windows: pd.DataFrame) -> float:
    if windows.empty:
        return 0.0
    lo = np.maximum(a_start, windows["start"].to_numpy(float))
    hi = np.minimum(a_end, windows["end"].to_numpy(float))
    return float(np.clip(hi - lo, 0, None).sum())


def _merged(windows: pd.DataFrame, start: float, end: float) -> pd.DataFrame:
    """A circuit's maintenance windows inside [start, end), overlaps merged (counted once)."""
    spans = sorted(
        (max(s, start), min(e, end)) for s, e in zip(windows["start"], windows["end"], strict=True)
    )
    merged: list[list[float]] = []
    for s, e in spans:
        if e <= s:
            continue
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return pd.DataFrame(merged, columns=["start", "end"])


def circuit_sla(
    daily: pd.DataFrame,
    events: pd.DataFrame,
    contracts: pd.DataFrame,
    maintenance: pd.DataFrame,
    start: float,
    end: float,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per circuit of the month, its outages). `daily` is the month's `circuit_kpis`;
    a circuit with no contract is reported as such, a contract with no measured circuit as no
    data. Availability = (observed − maintenance − down outside maintenance) / (observed −
    maintenance); the credit is `credit_pct_per_0_1` per started 0.1 % short, up to the cap."""
    measured = daily.groupby("circuit_id", sort=True).agg(
        site_id=("site_id", "last"),
        site_name=("site_name", "last"),
        observed_seconds=("observed_seconds", "sum"),
        down_seconds=("down_seconds", "sum"),
        util_p95_pct=("util_p95_pct", lambda s: s.quantile(0.95)),
    )
    ids = sorted(set(measured.index) | set(contracts["circuit_id"]))
    found = outages(events, ids, start, end)
    terms = contracts.set_index("circuit_id")
    none = found.iloc[:0]
    outages_of = dict(tuple(found.groupby("circuit_id"))) if len(found) else {}
    windows_of = dict(tuple(maintenance.groupby("circuit_id"))) if len(maintenance) else {}
    rows = []
    for cid in ids:
        m = measured.loc[cid] if cid in measured.index else None
        c = terms.loc[cid] if cid in terms.index else None
        windows = _merged(windows_of.get(cid, maintenance.iloc[:0]), start, end)
        mine = outages_of.get(cid, none)
        maint = float((windows["end"] - windows["start"]).sum()) if len(windows) else 0.0
        down_in_maint = sum(
            _overlap(s, e, windows) for s, e in zip(mine["start"], mine["end"], strict=True)
        )
        observed = float(m["observed_seconds"]) if m is not None else 0.0
        down = float(m["down_seconds"]) if m is not None else 0.0
        counted = observed - maint
        availability = (
            100 * (counted - max(down - down_in_maint, 0)) / counted if counted > 0 else math.nan
        )
        sla = float(c["availability_pct"]) if c is not None else math.nan
        met = None if math.isnan(availability) or math.isnan(sla) else bool(availability >= sla)
        shortfall = max(sla - availability, 0.0) if met is not None else math.nan
        credit = math.nan
        if met is not None:
            steps = math.ceil(round(shortfall / 0.1, 9))
            credit = steps * float(c["credit_pct_per_0_1"])
            if c["credit_cap_pct"] is not None and not pd.isna(c["credit_cap_pct"]):
                credit = min(credit, float(c["credit_cap_pct"]))
        rows.append(
            {
                "circuit_id": cid,
                "site_id": m["site_id"] if m is not None else None,
                "site_name": m["site_name"] if m is not None else None,
                "provider": c["provider"] if c is not None else NO_CONTRACT,
                "reference": c["reference"] if c is not None else None,
                "bandwidth_mbps": c["bandwidth_mbps"] if c is not None else math.nan,
                "sla_pct": sla,
                "observed_seconds": observed,
                "maintenance_seconds": maint,
                "down_seconds": down,
                "down_in_maintenance_seconds": down_in_maint,
                "availability_pct": availability,
                "met": met,
                "shortfall_pct": shortfall,
                "credit_pct": credit,
                "outages": len(mine),
                "longest_outage_seconds": float(mine["seconds"].max()) if len(mine) else 0.0,
                "events_down_seconds": float(mine["seconds"].sum()),
                "util_p95_pct": m["util_p95_pct"] if m is not None else math.nan,
                "capacity": _capacity(m["util_p95_pct"] if m is not None else math.nan),
            }
        )
    report = pd.DataFrame(rows, columns=CIRCUIT_COLUMNS)
    return report, found


def _capacity(p95: float) -> str | None:
    """Contracted against used: the month's p95 (the 95th percentile of its daily p95s)."""
    if p95 is None or pd.isna(p95):
        return None
    if p95 < DOWNSIZE_BELOW:
        return "downsize?"
    return "upgrade?" if p95 > UPGRADE_ABOVE else "sized"


def provider_sla(report: pd.DataFrame) -> pd.DataFrame:
    """Each provider's month: circuits, those that missed or had no data, the availability over
    all their counted time, the down seconds and outages, the circuits owed a credit."""
    counted = report["observed_seconds"] - report["maintenance_seconds"]
    lost = (report["down_seconds"] - report["down_in_maintenance_seconds"]).clip(lower=0)
    frame = report.assign(counted=counted.clip(lower=0), lost=lost.where(counted > 0, 0))
    out = frame.groupby("provider", sort=True).agg(
        circuits=("circuit_id", "size"),
        missed_sla=("met", lambda s: int((s == False).sum())),  # noqa: E712 (None is no data)
        no_data=("met", lambda s: int(s.isna().sum())),
        counted_seconds=("counted", "sum"),
        down_seconds=("lost", "sum"),
        outages=("outages", "sum"),
        credits_owed=("credit_pct", lambda s: int((s > 0).sum())),
    )
    out["availability_pct"] = np.where(
        out["counted_seconds"] > 0,
        100
        * (1 - out["down_seconds"] / out["counted_seconds"].where(out["counted_seconds"] > 0, 1)),
        np.nan,
    )
    return out.reset_index()
