"""A site-day's circuit KPIs as the `circuit_kpis` asset computes them, from everything stored of
it: the samples (and the day before's, as context), the port and gateway events, the windows the
event feed covers, and the register of each site's circuits. One function, so the asset and the
ground-truth test compute exactly the same thing."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .circuit import OFFLINE_SAMPLE, prepared_circuit_kpis
from .config import KpiConfig
from .existence import lifetimes
from .outages import _epoch, apply_port_events, exact_failover

REGISTRY_COLUMNS = ["site_id", "circuit_id", "first_seen", "last_seen"]


def site_day_kpis(
    samples: pd.DataFrame,
    events: pd.DataFrame,
    coverage: list[tuple[int, int]],
    interval_minutes: int,
    config: KpiConfig,
    days,
    now: float,
    registry: pd.DataFrame | None = None,
    checked_at: float | None = None,
    slack_seconds: int | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(hourly, daily) KPIs of the circuits of the samples' and events' sites on `days`.

    Every circuit that existed on a day has its rows, sampled or not (`kpi.lifetimes`); a
    gateway's status saying it is offline counts as a down sample of each of its circuits; where
    the event feed covers a bucket, its down time, flaps and availability come from events
    bounded by the samples (`kpi.outages`), and failover and time on backup to the second."""
    registry = (
        pd.DataFrame(columns=REGISTRY_COLUMNS) if registry is None else registry[REGISTRY_COLUMNS]
    )
    slack = 2 * interval_minutes * 60 if slack_seconds is None else slack_seconds
    parts = [samples[["site_id", "circuit_id"]].assign(t=_epoch(samples["ts"]))]
    ports = events[events["circuit_id"].notna()] if len(events) else events
    if len(ports):
        parts.append(ports[["site_id", "circuit_id"]].assign(t=_epoch(ports["ts"])))
    seen = pd.concat(parts, ignore_index=True)
    spans = lifetimes(registry, seen, days, interval_minutes, checked_at)
    offline = offline_samples(events, spans)
    frame = pd.concat([samples, offline], ignore_index=True) if len(offline) else samples
    hourly, daily, prepared = prepared_circuit_kpis(
        frame, interval_minutes, config, days, spans, now
    )
    daily, hourly, segments = apply_port_events(
        daily, hourly, events, coverage, now, samples=samples, spans=spans, slack_seconds=slack
    )
    daily, hourly = exact_failover(daily, hourly, segments, prepared, interval_minutes)
    return hourly, daily


def offline_samples(events: pd.DataFrame, spans: pd.DataFrame) -> pd.DataFrame:
    """A down row (`OFFLINE_SAMPLE`) for each circuit of a gateway at each moment its status
    said it was offline (`GW_STATUS`), while the circuit existed."""
    if not len(events) or spans.empty:
        return pd.DataFrame()
    status = events[(events["type"] == "GW_STATUS") & events["circuit_id"].isna()]
    if status.empty:
        return pd.DataFrame()
    circuits = spans.assign(mac=spans["circuit_id"].astype(str).str.split(":").str[0])
    rows = status[["ts", "mac"]].assign(t=_epoch(status["ts"])).merge(circuits, on="mac")
    rows = rows[(rows["t"] >= rows["start"]) & (rows["t"] < rows["end"])]
    return pd.DataFrame(
        {
            "ts": rows["ts"].to_numpy(),
            "site_id": rows["site_id"].to_numpy(),
            "circuit_id": rows["circuit_id"].to_numpy(),
            "mac": rows["mac"].to_numpy(),
            "port_id": rows["circuit_id"].astype(str).str.split(":", n=1).str[1].to_numpy(),
            "up": np.zeros(len(rows), dtype=bool),
            OFFLINE_SAMPLE: np.ones(len(rows), dtype=bool),
        }
    )
