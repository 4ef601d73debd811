"""Port-stats records → samples in the `site_snapshots` schema, with a quarantine for bad ones.

Only WAN ports (`port_usage == "wan"`) are kept; LAN ports (`"lan"`) are counted and dropped. A
record that cannot be a sample is quarantined with its reason and the rest of the page is kept.
The official schema's types and bounds are enforced, because a value that passes here is stored
and read back by every KPI run:

- ids: `site_id` a UUID, `mac` 12 hex digits (`:`/`-` separators allowed, nothing else, not even
  a trailing newline), `port_id` a short interface name;
- `port_usage` one of `wan`/`lan` (anything else, `"WAN"` or `false` included, is quarantined:
  it is not silently counted as LAN);
- `up` a boolean;
- counters and rates (`format: int64`): whole numbers from 0 to 2**63-1; a float is accepted
  only when it is a whole number (`1e3`), never truncated;
- `speed` a whole number of Mbit/s up to 10**7 (speed 0 is valid and counted: its utilisation is
  unknown);
- `loss` 0-100 %, `jitter` and `latency` from 0 to 10**6 ms, `last_flapped` a finite epoch >= 0.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from wanperf_dagster.contract import COUNTERS, RATES, RAW_FIELDS, circuit_id

MAC_RE = re.compile(r"[0-9a-f]{12}")
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
PORT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9/._:-]{0,63}")
INT64_MAX = 2**63 - 1
MAX_SPEED_MBPS = 10**7
MAX_DELAY_MS = 1e6
WAN, LAN = "wan", "lan"

_SPEED = RAW_FIELDS.index("speed_mbps")
# (record field, sample field, maximum)
_QUALITY = [("jitter", "jitter_ms", MAX_DELAY_MS), ("latency", "latency_ms", MAX_DELAY_MS)]


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


def _present(rec: dict, key: str) -> bool:
    return key in rec and rec[key] is not None


def _whole(rec: dict, key: str, maximum: int) -> int | None:
    """A whole number 0..maximum, None when absent or null; ValueError with the reason."""
    if not _present(rec, key):
        return None
    v = rec[key]
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ValueError(f"{key} is not a number ({type(v).__name__})")
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"{key} is not finite")
        if not v.is_integer():
            raise ValueError(f"{key}={v!r} is not a whole number")
        v = int(v)
    if v < 0:
        kind = "negative counter" if key in COUNTERS else "negative value"
        raise ValueError(f"{kind} {key}={v}")
    if v > maximum:
        raise ValueError(f"{key}={v} is out of range (at most {maximum})")
    return v


def _real(rec: dict, key: str, maximum: float) -> float | None:
    """A finite number 0..maximum, None when absent or null; ValueError with the reason."""
    if not _present(rec, key):
        return None
    v = rec[key]
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ValueError(f"{key} is not a number ({type(v).__name__})")
    v = float(v)
    if not math.isfinite(v):
        raise ValueError(f"{key} is not finite")
    if not 0 <= v <= maximum:
        raise ValueError(f"{key}={v!r} is out of range (0 to {maximum:g})")
    return v


def _text(rec: dict, key: str, pattern: re.Pattern) -> str:
    value = rec.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"missing {key}")
    if not pattern.fullmatch(value):
        raise ValueError(f"{key} is malformed ({value[:80]!r})")
    return value


def normalise_record(rec: dict, ts: float) -> Sample:
    """One WAN port record as a sample; ValueError with the reason when it cannot be one."""
    if not isinstance(rec, dict):
        raise ValueError(f"record is not an object ({type(rec).__name__})")
    site_id = _text(rec, "site_id", UUID_RE)
    raw_mac = rec.get("mac")
    if not isinstance(raw_mac, str) or not raw_mac:
        raise ValueError("missing mac")
    mac = raw_mac.lower().replace(":", "").replace("-", "")
    if not MAC_RE.fullmatch(mac):
        raise ValueError(f"mac is not 12 hex digits ({raw_mac[:40]!r})")
    port_id = _text(rec, "port_id", PORT_RE)
    up = rec.get("up")
    if not isinstance(up, bool):
        raise ValueError("up is missing or not a boolean")
    values = {"ts": ts, "mac": mac, "port_id": port_id, "up": up}
    values["speed_mbps"] = _whole(rec, "speed", MAX_SPEED_MBPS)
    for key in (*RATES, *COUNTERS):
        values[key] = _whole(rec, key, INT64_MAX)
    for src, dst, top in _QUALITY:
        values[dst] = _real(rec, src, top)
    values["loss_pct"] = _real(rec, "loss", 100.0)
    values["last_flapped"] = _real(rec, "last_flapped", float(INT64_MAX))
    return Sample(site_id, circuit_id(mac, port_id), [values[k] for k in RAW_FIELDS])


def normalise_page(records, ts: float) -> PageResult:
    """Split a page's records into samples, quarantined records and skipped LAN ports."""
    out = PageResult()
    if not isinstance(records, list):
        out.quarantined.append({"reason": "results is not a list", "record": records})
        return out
    for rec in records:
        usage = rec.get("port_usage") if isinstance(rec, dict) else None
        if isinstance(rec, dict) and usage == LAN:
            out.lan_skipped += 1
            continue
        if isinstance(rec, dict) and usage != WAN:
            reason = (
                "missing port_usage"
                if usage is None
                else f"unknown port_usage {str(usage)[:40]!r} (expected 'wan' or 'lan')"
            )
            out.quarantined.append({"reason": reason, "record": rec})
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
