"""The sample contract: what one swept sample of a WAN port holds, written once.

The client (`mist.records`) builds samples in `RAW_FIELDS` order, the store (`store.samples`) keeps
them in that order and reads them back as the `site_snapshots` frame (`SNAPSHOT_COLUMNS`), and the
KPI engine (`kpi`) reads that frame. Column names are public: users query them.
"""

from __future__ import annotations

# raw sample fields in stored order; `site_id` comes from the storage key, `circuit_id` is derived
RAW_FIELDS: tuple[str, ...] = (
    "ts",  # epoch seconds of the sample (within its poll slot)
    "mac",  # the gateway's MAC, 12 lower-case hex digits
    "port_id",  # e.g. ge-0/0/0
    "up",
    "speed_mbps",
    "rx_bps",
    "tx_bps",
    "rx_bytes",
    "tx_bytes",
    "rx_pkts",
    "tx_pkts",
    "rx_errors",
    "tx_errors",
    "jitter_ms",
    "latency_ms",
    "loss_pct",
    "last_flapped",  # epoch seconds of the port's last flap, as the gateway reports it
)

COUNTERS: tuple[str, ...] = (
    "rx_bytes",
    "tx_bytes",
    "rx_pkts",
    "tx_pkts",
    "rx_errors",
    "tx_errors",
)
RATES: tuple[str, ...] = ("rx_bps", "tx_bps")
INT_FIELDS: tuple[str, ...] = ("speed_mbps", *RATES, *COUNTERS)
FLOAT_FIELDS: tuple[str, ...] = ("jitter_ms", "latency_ms", "loss_pct", "last_flapped")

# the `site_snapshots` frame: one row per WAN port per sample slot
SNAPSHOT_COLUMNS: tuple[str, ...] = ("ts", "site_id", "circuit_id", *RAW_FIELDS[1:])
REQUIRED_COLUMNS: tuple[str, ...] = ("ts", "site_id", "circuit_id", "up")

assert set(INT_FIELDS) | set(FLOAT_FIELDS) | {"ts", "mac", "port_id", "up"} == set(RAW_FIELDS)


def circuit_id(mac: str, port_id: str) -> str:
    """A circuit is one WAN port of one gateway: `mac:port_id`."""
    return f"{mac}:{port_id}"


# what each snapshot column means (shown beside the column in the Dagster UI)
SNAPSHOT_DESCRIPTIONS: dict[str, str] = {
    "ts": "when the sample was taken (UTC), within its poll slot",
    "site_id": "the Mist site's id",
    "circuit_id": "the WAN circuit: gateway MAC and port, mac:port_id",
    "mac": "the gateway's MAC (12 hex digits)",
    "port_id": "the WAN port (ge-0/0/0, lte0, ...)",
    "up": "the port's state at the sample; null when not reported (unknown time)",
    "speed_mbps": "the port's negotiated speed, Mbit/s (0: unknown)",
    "rx_bps": "received rate at the sample, bit/s",
    "tx_bps": "sent rate at the sample, bit/s",
    "rx_bytes": "received bytes counter (since the device booted)",
    "tx_bytes": "sent bytes counter",
    "rx_pkts": "received packets counter",
    "tx_pkts": "sent packets counter",
    "rx_errors": "receive errors counter",
    "tx_errors": "send errors counter",
    "jitter_ms": "jitter at the sample, ms (null while down or not reported)",
    "latency_ms": "latency at the sample, ms",
    "loss_pct": "packet loss at the sample, %",
    "last_flapped": "epoch seconds of the port's last flap, as the gateway reports it",
}


# the WAN insight feeds' measures, as their stored columns name them
SLE_METRICS: tuple[str, ...] = ("gateway_health", "wan_link_health", "application_health")
PATH_MEASURES: tuple[tuple[str, str, str], ...] = (  # (measure, sample column, unit)
    ("latency", "latency_ms", "ms"),
    ("jitter", "jitter_ms", "ms"),
    ("loss", "loss_pct", "pct"),
)
