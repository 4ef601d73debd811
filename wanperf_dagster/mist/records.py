"""Port-stats records → samples in the `site_snapshots` schema, with a quarantine for bad ones.

Only WAN ports (`port_usage == "wan"`) are kept; LAN ports are counted and dropped. A record that
cannot be a sample (a missing id, a non-boolean `up`, a negative counter, a value of the wrong type)
is quarantined with its reason; the rest of the page is kept. Speed 0 is a valid record (the KPI
engine reports its utilisation as unknown) and is counted.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from wanperf_dagster.contract import COUNTERS, RATES, RAW_FIELDS, circuit_id

MAC_RE = re.compile(r"^[0-9a-f]{12}$")

_COUNTERS = COUNTERS
_RATES = RATES
_SPEED = RAW_FIELDS.index("speed_mbps")
_QUALITY = [("jitter", "jitter_ms"), ("latency", "latency_ms"), ("loss", "loss_pct")]


@dataclass
class Sample:
    site_id: str
    circuit_id: str
    values: list  # RAW_FIELDS order


@dataclass
class PageResult:
    samples: list[Sample] = field(default_factory=list)
    quarantined: list[dict] = field(default_factory=list)  # {"reason": ..., "record": ...}
    lan_skipped: int = 0
    zero_speed: int = 0

    @property
    def records(self) -> int:
        return len(self.samples) + len(self.quarantined) + self.lan_skipped


def _number(rec: dict, key: str, *, integer: bool = False, minimum: float | None = 0.0):
    """The field's value, None when absent or null; raises ValueError with a reason when bad."""
    if key not in rec or rec[key] is None:
        return None
    v = rec[key]
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ValueError(f"{key} is not a number ({type(v).__name__})")
    if isinstance(v, float) and not math.isfinite(v):
        raise ValueError(f"{key} is not finite")
    if minimum is not None and v < minimum:
        raise ValueError(
            f"{'negative counter' if key in _COUNTERS else 'negative value'} {key}={v}"
        )
    return int(v) if integer else float(v)


def normalise_record(rec: dict, ts: float) -> Sample:
    """One WAN port record as a sample; ValueError with the reason when it cannot be one."""
    if not isinstance(rec, dict):
        raise ValueError(f"record is not an object ({type(rec).__name__})")
    site_id, mac, port_id = rec.get("site_id"), rec.get("mac"), rec.get("port_id")
    for name, value in (("site_id", site_id), ("mac", mac), ("port_id", port_id)):
        if not isinstance(value, str) or not value:
            raise ValueError(f"missing {name}")
    mac = mac.lower().replace(":", "").replace("-", "")
    if not MAC_RE.match(mac):
        raise ValueError(f"mac is not 12 hex digits ({rec.get('mac')!r})")
    up = rec.get("up")
    if not isinstance(up, bool):
        raise ValueError("up is missing or not a boolean")
    values = {"ts": ts, "mac": mac, "port_id": port_id, "up": up}
    values["speed_mbps"] = _number(rec, "speed", integer=True)
    for key in _RATES:
        values[key] = _number(rec, key, integer=True)
    for key in _COUNTERS:
        values[key] = _number(rec, key, integer=True)
    for src, dst in _QUALITY:
        values[dst] = _number(rec, src)
    values["last_flapped"] = _number(rec, "last_flapped")
    return Sample(site_id, circuit_id(mac, port_id), [values[k] for k in RAW_FIELDS])


def normalise_page(records, ts: float) -> PageResult:
    """Split a page's records into samples, quarantined records and skipped LAN ports."""
    out = PageResult()
    if not isinstance(records, list):
        out.quarantined.append({"reason": "results is not a list", "record": records})
        return out
    for rec in records:
        if isinstance(rec, dict) and rec.get("port_usage") not in ("wan", None):
            out.lan_skipped += 1
            continue
        if isinstance(rec, dict) and rec.get("port_usage") is None:
            out.quarantined.append({"reason": "missing port_usage", "record": rec})
            continue
        try:
            sample = normalise_record(rec, ts)
        except ValueError as exc:
            out.quarantined.append({"reason": str(exc), "record": rec})
            continue
        if sample.values[_SPEED] == 0:
            out.zero_speed += 1
        out.samples.append(sample)
    return out
