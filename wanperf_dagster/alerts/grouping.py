"""One incident per cause, as Alertmanager's grouping and inhibition give a NOC: a site whose
every WAN circuit is down is one `site_down` (its circuits' alerts inhibited), a site on its
backup inhibits its primary's `down`, and many sites of a region down at once are one
`region_down` listing them. An inhibited incident is still open and recorded (it neither
alerts nor recovers while covered); the covering incident says how many circuits and sites
it covers."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace

from wanperf_dagster.kpi import KpiConfig

from .rules import KINDS, AlertRules, Incident, duration, fresh_circuits, gateways_offline, judged


@dataclass
class Grouped:
    shown: list[Incident]  # told: the incidents no other covers
    inhibited: dict[str, str] = field(default_factory=dict)  # covered key -> its cover's key
    covered: list[Incident] = field(default_factory=list)  # the inhibited incidents


def group(
    incidents: list[Incident],
    site_circuits: dict[str, int],
    rules: AlertRules,
    config: KpiConfig,
    now: int,
    interval_minutes: int,
    first_seen: dict[str, int] | None = None,
    previous: list[Incident] | tuple = (),
    baselines=None,
) -> Grouped:
    """`site_circuits`: the circuits of each site judged now (fresh samples); `first_seen`, when
    each incident still open was first seen (a group's duration counts from there too);
    `previous`, the incidents open at the last evaluation: one a cover now speaks for (a
    circuit's `down` under its gateway gone offline, which no sample shows now) stays open
    under it instead of recovering."""
    first_seen = first_seen or {}
    by_site: dict[str, list[Incident]] = defaultdict(list)
    for incident in incidents:
        by_site[incident.site_id].append(incident)
    covers: dict[str, Incident] = {}  # covered key -> the incident covering it
    grouped: list[Incident] = []

    def held(since: int) -> str:
        return duration(now - since + interval_minutes * 60)

    dark_sites: list[tuple[Incident, list[Incident]]] = []  # every circuit down
    for site, mine in by_site.items():
        down = [i for i in mine if i.kind == "down"]
        circuits = site_circuits.get(site, 0)
        if circuits and len(down) == circuits:
            if circuits == 1:  # one circuit: its down is the site's, nothing to group
                dark_sites.append((down[0], []))
                continue
            since = min(min(i.since for i in down), first_seen.get(f"site_down@{site}", now))
            covered = [i for i in mine if i.circuit_id is not None]
            site_down = Incident(
                "site_down",
                site,
                mine[0].site_name,
                None,
                since,
                float(circuits),
                f"all {circuits} WAN circuits down for {held(since)}",
                covers=tuple(i.key for i in covered),
                sites=(mine[0].site_name,),
            )
            for i in covered:
                covers[i.key] = site_down
            grouped.append(site_down)
            dark_sites.append((site_down, covered))
            continue
        gateways = [i for i in mine if i.kind == "gateway_offline"]
        if gateways and not site_circuits.get(site):  # every gateway dark: the site is
            dark_sites.append((gateways[0], gateways[1:]))
        for backup in (i for i in mine if i.kind == "on_backup"):
            mine_keys = {i.key: i for i in mine}
            taken = [mine_keys[k] for k in backup.covers if k in mine_keys]
            for i in taken:
                covers[i.key] = backup
    # a region with many sites dark at once: one incident listing them
    by_region: dict[str, list[tuple[Incident, list[Incident]]]] = defaultdict(list)
    for site_incident, covered in dark_sites:
        region = config.site_regions.get(site_incident.site_id)
        if region:
            by_region[region].append((site_incident, covered))
    for region, dark in by_region.items():
        if len(dark) < rules.region_sites:
            continue
        # since the region had enough sites dark, not since its first site went dark: a site
        # down for days would give every later episode of the region the same first instant,
        # and so the same idempotency key, which a receiver drops as a repeat (the week's soak)
        began = sorted(i.since for i, _ in dark)[rules.region_sites - 1]
        since = min(began, first_seen.get(f"region_down@region:{region}", now))
        names = tuple(sorted(i.site_name for i, _ in dark))
        circuits = sum(
            int(i.value) + sum(int(c.value) for c in covered if c.kind == "gateway_offline")
            if i.kind in ("site_down", "gateway_offline")
            else 1
            for i, covered in dark
        )
        inner = [i for i, _ in dark] + [c for _, covered in dark for c in covered]
        region_down = Incident(
            "region_down",
            f"region:{region}",
            region,
            None,
            since,
            float(len(dark)),
            f"{len(dark)} sites of {region} down ({circuits} circuits) for {held(since)}",
            covers=tuple(i.key for i in inner),
            sites=names,
        )
        for i in inner:
            covers[i.key] = region_down
        grouped.append(region_down)
    everything = [*incidents, *grouped]
    speaks_for = {k: i for i in everything if i.key not in covers for k in i.covers}
    now_keys = {i.key for i in everything}
    for old in previous:  # open before, silent now, spoken for by a cover: still open under it
        if old.key not in now_keys and old.key in speaks_for:
            covers[old.key] = speaks_for[old.key]
            everything.append(old)
            now_keys.add(old.key)
    shown = [i for i in everything if i.key not in covers]
    covered_incidents = [i for i in everything if i.key in covers]
    order = lambda i: (KINDS.index(i.kind), i.site_name, i.key)  # noqa: E731
    return Grouped(
        shown=sorted(shown, key=order),
        inhibited={key: cover.key for key, cover in covers.items()},
        covered=sorted(covered_incidents, key=order),
    )


def incidents_now(
    samples,
    interval_minutes: int,
    rules: AlertRules,
    config: KpiConfig,
    now: int,
    first_seen: dict[str, int] | None = None,
    events=None,
    circuits=None,
    previous: list[Incident] | tuple = (),
    baselines=None,
) -> Grouped:
    """The rules' incidents at `now`, and the gateways offline (the event feed's status rows,
    `events`, with the sites' register of `circuits`), grouped: what to tell, and what it
    covers."""
    found, site_circuits = judged(
        samples, interval_minutes, rules, config, now, first_seen, baselines
    )
    if events is not None and circuits is not None:
        found += gateways_offline(events, circuits, interval_minutes, now, config, first_seen)
    grouped = group(
        found, site_circuits, rules, config, now, interval_minutes, first_seen, previous
    )
    return hold_unjudged(grouped, previous, fresh_circuits(samples, interval_minutes, now))


def hold_unjudged(grouped: Grouped, previous, fresh: set[str]) -> Grouped:
    """An incident open before that no fresh sample judges now (its circuits not swept: an API
    storm, a sweep that failed) is unknown, not cleared: it stays open as it was, so its recovery
    is not told on no data, nor the same episode told again when the samples come back."""
    now_keys = {i.key for i in grouped.shown} | {i.key for i in grouped.covered}
    held = [old for old in previous if old.key not in now_keys and not _judged(old, fresh)]
    if not held:
        return grouped
    return Grouped(shown=grouped.shown + held, inhibited=grouped.inhibited, covered=grouped.covered)


def _judged(incident: Incident, fresh: set[str]) -> bool:
    """Whether a sample of now speaks for the incident's subject: its circuit; for a site's or
    a region's, any circuit it covers. A gateway's own comes from the event feed: always judged."""
    if incident.gateway or incident.kind == "gateway_offline":
        return True
    if incident.circuit_id is not None:
        return incident.circuit_id in fresh
    for key in incident.covers:
        kind, subject = key.split("@", 1)
        if kind == "gateway_offline" or subject in fresh:
            return True
    return not incident.covers


def circuits_covered(incident: Incident) -> int:
    """How many circuits an incident speaks for: itself, or those it covers."""
    if incident.circuit_id is not None:
        return 1
    circuits = {
        target
        for kind, _, target in (k.partition("@") for k in incident.covers)
        if kind not in ("site_down", "region_down", "on_backup")
    }
    return len(circuits) or (1 if incident.kind == "on_backup" else 0)


def with_counts(incident: Incident) -> Incident:
    """The incident as a message carries it: its sites listed (one for a site's incident)."""
    if incident.sites:
        return incident
    return replace(incident, sites=(incident.site_name,))
