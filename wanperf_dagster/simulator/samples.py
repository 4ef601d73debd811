"""Samples in the site_snapshots schema straight from the simulator's world model, without HTTP:
what a sweep every interval would store. For tests, benchmarks and notebooks."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .world import World


def world_samples(
    world: World, start: int, count: int, interval_s: int = 600, offset_s: int = 17, ports=None
) -> pd.DataFrame:
    """What a sweep every `interval_s` would store for the WAN ports, from `start` (epoch s)."""
    org = world.org
    ports = org.wan_port_indices() if ports is None else np.asarray(ports)
    times = start + offset_s + interval_s * np.arange(count)
    pp = np.tile(ports, count)
    tt = np.repeat(times, len(ports))
    s = world.state(pp, tt)
    q = s["has_quality"]
    site = org.arrays["site"][pp]
    return pd.DataFrame(
        {
            "ts": pd.to_datetime(tt, unit="s", utc=True),
            "site_id": [org.sites[i].id for i in site],
            "circuit_id": [org.circuit_id(i) for i in pp],
            "mac": [org.gateways[g].mac for g in org.arrays["gw"][pp]],
            "port_id": [org.port_id[i] for i in pp],
            "up": s["up"],
            "speed_mbps": s["speed"],
            "rx_bps": s["rx_bps"],
            "tx_bps": s["tx_bps"],
            "rx_bytes": s["rx_bytes"],
            "tx_bytes": s["tx_bytes"],
            "rx_pkts": s["rx_pkts"],
            "tx_pkts": s["tx_pkts"],
            "rx_errors": s["rx_errors"],
            "tx_errors": s["tx_errors"],
            "jitter_ms": np.where(q, s["jitter"], np.nan),
            "latency_ms": np.where(q, s["latency"], np.nan),
            "loss_pct": np.where(q, s["loss"], np.nan),
            "last_flapped": s["last_flapped"].astype(np.float64),
        }
    )
