"""A month against the contracts: each circuit's measured availability (from the KPIs' exact
down and observed seconds, the same figures every other view shows), its outages (from the port
events and the gateways going offline, to the second), the maintenance windows left out, and the
credit the contract gives; then each provider's month."""

from __future__ import annotations

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
    "latency_p95_ms",
    "latency_target_ms",
    "jitter_p95_ms",
    "jitter_target_ms",
    "loss_p95_pct",
    "loss_target_pct",
    "quality_met",
]
# the contract's quality targets: (its column, the month's measure from circuit_kpis' daily p95)
QUALITY = {
    "latency": ("latency_ms", "latency_p95_ms", "latency_target_ms"),
    "jitter": ("jitter_ms", "jitter_p95_ms", "jitter_target_ms"),
    "loss": ("loss_pct", "loss_p95_pct", "loss_target_pct"),
}
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
    changes = changes.sort_values(["circuit_id", "ts"], kind="stable").reset_index(drop=True)
    # a repeat of the state a circuit is in changes nothing: keep each change of state
    same = changes["circuit_id"].eq(changes["circuit_id"].shift())
    changes = changes[~(same & changes["event"].eq(changes["event"].shift()))]
    if changes.empty:
        return pd.DataFrame(columns=OUTAGE_COLUMNS)
    cid, ts, down = (
        changes["circuit_id"].to_numpy(),
        changes["ts"].to_numpy(float),
        changes["event"].eq("down").to_numpy(),
    )
    first = np.r_[True, cid[1:] != cid[:-1]]
    last = np.r_[cid[1:] != cid[:-1], True]
    nxt = np.r_[ts[1:], np.nan]
    # a down ends at the circuit's next change (an up), or at the window's end
    outs = pd.DataFrame(
        {
            "circuit_id": cid[down],
            "start": ts[down],
            "end": np.where(last[down], end, nxt[down]),
            "began_before": False,
            "still_down": last[down],
        }
    )
    # a circuit whose first change is an up was down since before the window
    before = first & ~down & (ts > start)
    began = pd.DataFrame(
        {
            "circuit_id": cid[before],
            "start": start,
            "end": ts[before],
            "began_before": True,
            "still_down": False,
        }
    )
    out = pd.concat([began, outs], ignore_index=True) if len(began) else outs
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
    g = daily.groupby("circuit_id", sort=True)
    measured = g.agg(
        site_id=("site_id", "last"),
        site_name=("site_name", "last"),
        observed_seconds=("observed_seconds", "sum"),
        down_seconds=("down_seconds", "sum"),
    )
    measured["util_p95_pct"] = g["util_p95_pct"].quantile(0.95)
    for _, measure, _ in QUALITY.values():  # the 95th percentile of the days' p95s
        measured[measure] = g[measure].quantile(0.95) if measure in daily else np.nan
    ids = sorted(set(measured.index) | set(contracts["circuit_id"]))
    found = outages(events, ids, start, end)
    out = pd.DataFrame(index=pd.Index(ids, name="circuit_id"))
    terms = contracts.rename(columns={"availability_pct": "contract_pct"})
    out = out.join(measured).join(terms.set_index("circuit_id"))
    has_data = out.index.isin(measured.index)
    has_contract = out.index.isin(contracts["circuit_id"])
    per = found.groupby("circuit_id")["seconds"].agg(["size", "max", "sum"])
    out["outages"] = per["size"].reindex(out.index).fillna(0).astype("int64")
    out["longest_outage_seconds"] = per["max"].reindex(out.index).fillna(0.0)
    out["events_down_seconds"] = per["sum"].reindex(out.index).fillna(0.0)
    # the maintenance windows: few circuits have them, each merged and matched to its outages
    out["maintenance_seconds"] = 0.0
    out["down_in_maintenance_seconds"] = 0.0
    outages_of = dict(tuple(found.groupby("circuit_id"))) if len(found) else {}
    for cid, mine in maintenance.groupby("circuit_id") if len(maintenance) else ():
        if cid not in out.index:
            continue
        windows = _merged(mine, start, end)
        hit = outages_of.get(cid, found.iloc[:0])
        out.loc[cid, "maintenance_seconds"] = float((windows["end"] - windows["start"]).sum())
        out.loc[cid, "down_in_maintenance_seconds"] = sum(
            _overlap(a, b, windows) for a, b in zip(hit["start"], hit["end"], strict=True)
        )
    observed = out["observed_seconds"].where(has_data, 0.0).astype(float)
    down = out["down_seconds"].where(has_data, 0.0).astype(float)
    out["observed_seconds"], out["down_seconds"] = observed, down
    counted = observed - out["maintenance_seconds"]
    lost = (down - out["down_in_maintenance_seconds"]).clip(lower=0)
    out["availability_pct"] = np.where(
        counted > 0, 100 * (counted - lost) / counted.where(counted > 0, 1), np.nan
    )
    return _terms_applied(out, has_contract), found


def _terms_applied(out: pd.DataFrame, has_contract) -> pd.DataFrame:
    """Met, shortfall and credit where a contract and data both are; the rest said as such."""
    sla_pct = pd.to_numeric(out["contract_pct"], errors="coerce")
    known = has_contract & out["availability_pct"].notna()
    met = (out["availability_pct"] >= sla_pct).where(known)
    shortfall = (sla_pct - out["availability_pct"]).clip(lower=0).where(known)
    steps = np.ceil((shortfall / 0.1).round(9))
    credit = steps * pd.to_numeric(out["credit_pct_per_0_1"], errors="coerce").fillna(0.0)
    cap = pd.to_numeric(out["credit_cap_pct"], errors="coerce")
    credit = credit.where(cap.isna(), np.minimum(credit, cap)).where(known)
    # quality: each target given is met when the month's p95 is at or under it
    checks = []
    for column, measure, target in QUALITY.values():
        goal = (
            pd.to_numeric(out[column], errors="coerce")
            if column in out
            else pd.Series(np.nan, index=out.index)
        )
        out[target] = goal
        checks.append((out[measure] <= goal).where(goal.notna() & out[measure].notna()))
    given = pd.concat(checks, axis=1)
    quality = given.all(axis=1, skipna=True).where(given.notna().any(axis=1))
    out = out.assign(
        quality_met=[None if pd.isna(v) else bool(v) for v in quality],
        provider=out["provider"].where(has_contract, NO_CONTRACT),
        sla_pct=sla_pct,
        met=[None if pd.isna(v) else bool(v) for v in met],
        shortfall_pct=shortfall,
        credit_pct=credit,
        capacity=[_capacity(v) for v in out["util_p95_pct"]],
    )
    for column in ("site_id", "site_name", "reference"):  # none where unknown, not NaN
        out[column] = out[column].astype(object).where(out[column].notna(), None)
    return out.reset_index()[CIRCUIT_COLUMNS]


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
