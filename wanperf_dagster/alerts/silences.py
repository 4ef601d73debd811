"""Silences, as Alertmanager's: a maintenance window by site, circuit or rule (or the whole org)
with a start, an end, a reason and who set it. A silenced incident is still open and recorded
(`silenced_by`), but not told while the silence lasts; one that outlives it is told when it
ends, so a silence never hides an incident for longer than it says."""

from __future__ import annotations

import secrets
import time
from dataclasses import asdict, dataclass

from wanperf_dagster.storage import AssetStore

from .rules import KINDS, Incident


@dataclass(frozen=True)
class Silence:
    id: str
    start: int
    end: int
    reason: str
    by: str
    site_id: str | None = None
    circuit_id: str | None = None
    kind: str | None = None

    def matches(self, incident: Incident, at: int) -> bool:
        if not self.start <= at < self.end:
            return False
        if self.kind and incident.kind != self.kind:
            return False
        if self.circuit_id and incident.circuit_id != self.circuit_id:
            return False
        return not self.site_id or incident.site_id == self.site_id

    @property
    def scope(self) -> str:
        parts = [
            f"{name} {value}"
            for name, value in (
                ("site", self.site_id),
                ("circuit", self.circuit_id),
                ("kind", self.kind),
            )
            if value
        ]
        return ", ".join(parts) or "the whole org"


def add_silence(
    storage: AssetStore,
    org_id: str,
    *,
    start: int,
    end: int,
    reason: str,
    by: str,
    site_id: str | None = None,
    circuit_id: str | None = None,
    kind: str | None = None,
) -> Silence:
    """A new silence; ValueError saying what is wrong (an end not after its start, no reason,
    nobody, a kind the rules do not have)."""
    if end <= start:
        raise ValueError("a silence's end must be after its start")
    if not str(reason).strip():
        raise ValueError("a silence needs a reason (--reason)")
    if not str(by).strip():
        raise ValueError("a silence needs who sets it (--by)")
    if kind and kind not in KINDS:
        raise ValueError(f"no alert kind {kind!r}; the kinds: {', '.join(KINDS)}")
    silence = Silence(
        secrets.token_hex(4),
        int(start),
        int(end),
        str(reason).strip()[:500],
        str(by).strip()[:100],
        site_id or None,
        circuit_id or None,
        kind or None,
    )
    storage.alert_state(org_id).add_silence(silence.id, asdict(silence))
    return silence


def silences(storage: AssetStore, org_id: str, at: int | None = None) -> list[Silence]:
    """The org's silences (with `at`, those not yet over then), soonest end first."""
    found = [Silence(**r) for r in storage.alert_state(org_id).silences().values()]
    if at is not None:
        found = [s for s in found if s.end > at]
    return sorted(found, key=lambda s: (s.end, s.id))


def remove_silence(storage: AssetStore, org_id: str, silence_id: str) -> bool:
    """Ends a silence at once (False: there was none of that id)."""
    return storage.alert_state(org_id).remove_silence(silence_id)


def silenced_by(incident: Incident, active: list[Silence], at: int) -> str | None:
    """The id of the first silence over the incident at `at`, or None."""
    return next((s.id for s in active if s.matches(incident, at)), None)


def now() -> int:
    return int(time.time())
