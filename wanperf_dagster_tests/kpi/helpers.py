"""Build hand-written samples in the site_snapshots schema."""

from __future__ import annotations

import numpy as np
import pandas as pd

DAY = "2026-11-26"


def samples(rows: list[dict], day: str = DAY) -> pd.DataFrame:
    """rows: dicts with `minute` (minutes after midnight of `day`) and any snapshot column;
    defaults: circuit c1 at site s1, up, 100 Mbps, no traffic, counters 0."""
    base = pd.Timestamp(day, tz="UTC")
    out = []
    for r in rows:
        r = dict(r)
        minute = r.pop("minute")
        circuit = r.pop("circuit", "aa:ge-0/0/0")
        rec = {
            "ts": base + pd.Timedelta(minutes=minute, seconds=r.pop("second", 5)),
            "site_id": r.pop("site", "s1"),
            "circuit_id": circuit,
            "mac": circuit.split(":")[0],
            "port_id": circuit.split(":")[1],
            "up": True,
            "speed_mbps": 100,
            "rx_bps": 0,
            "tx_bps": 0,
            "rx_bytes": 0,
            "tx_bytes": 0,
            "rx_pkts": 0,
            "tx_pkts": 0,
            "rx_errors": 0,
            "tx_errors": 0,
            "jitter_ms": np.nan,
            "latency_ms": np.nan,
            "loss_pct": np.nan,
            "last_flapped": 1_000.0,
        }
        rec.update(r)
        out.append(rec)
    if not out:
        from wanperf_dagster.kpi import SNAPSHOT_COLUMNS

        return pd.DataFrame({c: pd.Series(dtype=object) for c in SNAPSHOT_COLUMNS})
    return pd.DataFrame(out)


def util_rows(
    utils: list[float | None], start_minute: int = 0, step: int = 10, **extra
) -> list[dict]:
    """Consecutive samples with the given utilisation (percent of 100 Mbps); None = no sample."""
    rows = []
    for k, u in enumerate(utils):
        if u is None:
            continue
        rows.append({"minute": start_minute + k * step, "rx_bps": int(u * 1e6), **extra})
    return rows


def day_of_samples(down_slots=(), day: str = "2025-11-26") -> pd.DataFrame:
    """A day of 10-minute samples (at hh:m0:05) of one circuit, down in the given slots."""
    down = set(down_slots)
    return samples(
        [
            {
                "minute": 10 * k,
                "up": k not in down,
                "rx_bps": 1_000_000,
                "tx_bps": 1_000_000,
                "rx_bytes": 1000 * k,
                "tx_bytes": 1000 * k,
            }
            for k in range(144)
        ],
        day=day,
    )
