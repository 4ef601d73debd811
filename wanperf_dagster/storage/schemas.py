"""The Arrow schemas of the datasets the history keeps: the contract a user queries.

Each is a list of (column, type, description); types are logical (`string`, `int64`,
`double`, `bool`, `date32`, `timestamp`): Arrow's dictionary encoding, string width and
timestamp unit are how a table happens to be stored, not what it holds (`logical_type`). The
snapshot and circuit KPI columns come from the definitions the engine itself builds them by
(`contract`, `kpi.kpi_columns`); the insight datasets' are declared here.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from wanperf_dagster import contract, kpi
from wanperf_dagster.contract import PATH_MEASURES, SLE_METRICS
from wanperf_dagster.kpi.circuit import CATEGORICAL_COLUMNS, INT_COLUMNS, kpi_columns

Field = tuple[str, str, str]  # name, logical type, description

TYPES = {
    "string": pa.string(),
    "int64": pa.int64(),
    "double": pa.float64(),
    "bool": pa.bool_(),
    "date32": pa.date32(),
    "timestamp": pa.timestamp("ns", "UTC"),
}


def logical_type(arrow_type: pa.DataType) -> str:
    """What a column holds, whatever its encoding: `string`, `int64`, `double`, `bool`, `date32`,
    `timestamp`, `null` (nothing yet), or Arrow's own name for anything else."""
    if pa.types.is_dictionary(arrow_type):
        return logical_type(arrow_type.value_type)
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "string"
    if pa.types.is_integer(arrow_type):
        return "int64"
    if pa.types.is_floating(arrow_type):
        return "double"
    if pa.types.is_boolean(arrow_type):
        return "bool"
    if pa.types.is_date(arrow_type):
        return "date32"
    if pa.types.is_timestamp(arrow_type):
        return "timestamp"
    if pa.types.is_null(arrow_type):
        return "null"
    return str(arrow_type)


def arrow_schema(fields: Sequence[Field]) -> pa.Schema:
    return pa.schema(
        [
            pa.field(name, TYPES[kind], metadata={"description": text} if text else None)
            for name, kind, text in fields
        ]
    )


def mismatches(stored: pa.Schema, declared: pa.Schema) -> list[str]:
    """How a stored table's schema differs from the declared one (columns and their order,
    logical types; a column with no value yet, `null`, matches any type)."""
    if stored.names != declared.names:
        extra = [n for n in stored.names if n not in declared.names]
        missing = [n for n in declared.names if n not in stored.names]
        if extra or missing:
            return [f"columns not declared: {extra}; declared, not stored: {missing}"]
        return [f"columns in another order: {stored.names}"]
    out = []
    for got, want in zip(stored, declared, strict=True):
        kind = logical_type(got.type)
        if kind not in ("null", logical_type(want.type)):
            out.append(f"{got.name}: stored {kind}, declared {logical_type(want.type)}")
    return out


def snapshot_fields() -> list[Field]:
    def kind(name: str) -> str:
        if name == "ts":
            return "timestamp"
        if name == "up":
            return "bool"
        if name in contract.INT_FIELDS:
            return "int64"
        if name in contract.FLOAT_FIELDS:
            return "double"
        return "string"

    return [
        (c, kind(c), contract.SNAPSHOT_DESCRIPTIONS.get(c, "")) for c in contract.SNAPSHOT_COLUMNS
    ]


def kpi_fields(kind: str) -> list[Field]:
    """The daily or hourly circuit KPIs' columns, typed as the engine makes them."""

    def typed(name: str) -> str:
        if name == "day":
            return "date32"
        if name in ("hour", "window_start", "window_end"):
            return "timestamp"
        if name in CATEGORICAL_COLUMNS:
            return "string"
        return "int64" if name in INT_COLUMNS else "double"

    return [(c, typed(c), kpi.KPI_DESCRIPTIONS.get(c, "")) for c in kpi_columns(kind)]


EVENT_FIELDS: list[Field] = [
    ("ts", "timestamp", "the instant of the change, to the second (sub-second kept)"),
    ("site_id", "string", "the Mist site's id"),
    ("circuit_id", "string", "the WAN circuit: gateway MAC and port"),
    ("mac", "string", "the gateway's MAC"),
    ("port_id", "string", "the WAN port"),
    ("event", "string", "down or up"),
    ("type", "string", "Mist's event type (GW_PORT_DOWN, GW_PORT_UP)"),
    ("text", "string", "Mist's text of the event"),
]
_SCORE = "0..1, the mean over the hours reported"
_BANDS = "healthy >= 0.95, fair >= 0.80, degraded >= 0.60, critical"
_SITE = [
    ("site_id", "string", "the Mist site's id"),
    ("site_name", "string", "the site's name (now)"),
    ("region", "string", "the site's region"),
]
SLE_FIELDS: list[Field] = [
    ("day", "date32", "the UTC day"),
    *_SITE,
    ("hours", "int64", "hours Mist reported the SLE for"),
    *(
        column
        for m in SLE_METRICS
        for column in (
            (m, "double", f"{m.replace('_', ' ')}: {_SCORE}"),
            (f"{m}_min", "double", "its worst hour"),
            (f"{m}_band", "string", _BANDS),
        )
    ),
    ("worst_hour", "timestamp", "the hour of the lowest WAN link health"),
    ("hours_below_fair", "int64", "hours with WAN link health below 0.80"),
    ("num_gateways", "double", "gateways at the site"),
    ("num_clients_max", "double", "most clients in an hour"),
]
SLE_HOURLY_FIELDS: list[Field] = [
    ("hour", "timestamp", "the UTC hour (its start)"),
    *_SITE,
    *(
        column
        for m in SLE_METRICS
        for column in (
            (m, "double", f"{m.replace('_', ' ')} of the hour, 0..1"),
            (f"{m}_band", "string", _BANDS),
        )
    ),
    ("num_gateways", "double", "gateways at the site"),
    ("num_clients", "double", "clients in the hour"),
]
PATH_FIELDS: list[Field] = [
    ("day", "date32", "the UTC day"),
    *_SITE,
    ("path_id", "string", "mac:port>peer mac:peer port"),
    ("circuit_id", "string", "the circuit the path leaves by"),
    ("peer_site_id", "string", "the hub's site"),
    ("type", "string", "ipsec (SRX) or svr (SSR)"),
    ("samples", "int64", "slots sampled"),
    ("up_minutes", "int64", "minutes up (interval x samples up)"),
    ("down_minutes", "int64", "minutes down"),
    ("availability_pct", "double", "up / sampled minutes, %"),
    *(
        (f"{n}_{s}_{u}", "double", f"{label} {n} while up")
        for n, _, u in PATH_MEASURES
        for s, label in (("avg", "mean"), ("p95", "95th percentile"), ("max", "highest"))
    ),
    ("mos_avg", "double", "mean opinion score, mean (1..4.5)"),
    ("mos_min", "double", "mean opinion score, lowest"),
    *(
        (f"{n}_minutes_{t}", "int64", f"minutes at or over the {t} {n} tier")
        for n, _, _ in PATH_MEASURES
        for t in ("warn", "high", "critical")
    ),
]


DEVICE_STATUS_FIELDS: list[Field] = [
    ("ts", "timestamp", "the ingestion's sample slot"),
    ("site_id", "string", "the Mist site's id"),
    ("mac", "string", "the gateway's MAC"),
    ("status", "string", "connected or disconnected, as the gateway's status said"),
    ("uptime", "double", "seconds since the gateway booted (none while disconnected)"),
    ("last_seen", "double", "when Mist last heard from it, epoch seconds"),
]
GATEWAY_STATUS_FIELDS: list[Field] = [
    ("day", "date32", "the UTC day"),
    *_SITE,
    ("mac", "string", "the gateway's MAC"),
    ("samples", "int64", "slots its status was read"),
    ("connected_minutes", "int64", "minutes connected (interval x slots said connected)"),
    ("disconnected_minutes", "int64", "minutes disconnected: offline or rebooting"),
    ("unknown_minutes", "int64", "minutes of the day so far nobody read its status"),
    ("availability_pct", "double", "connected / read minutes, %; none when never read"),
    ("offline_periods", "int64", "runs of slots said disconnected"),
    ("longest_offline_minutes", "int64", "the longest of them"),
    ("reboots", "int64", "restarts seen: its uptime went back between two connected slots"),
    ("last_status", "string", "connected or disconnected at its last slot of the day"),
]
