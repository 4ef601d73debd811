"""Which alert receiver is told of which incident: by org, severity and rule
(`WANPERF_ALERT_ROUTES`). Pure, at the settings' layer: the settings check a route when they
are read, the alerts follow it.


A route names a receiver as messages and errors do (`pagerduty #1`, `email #1`, `slack #2`,
`webhook #1`; a style alone, `email`, names each of that style) and what it takes:
`severity=critical`, `rule=down,site_down`, `org=<org id>`; several such filters must all match.
A receiver no route names takes everything, as before routes existed. Routes are separated by
`;`: `pagerduty #1: severity=critical; slack #1: rule=congested,loss,latency`."""

from __future__ import annotations

import re
from dataclasses import dataclass

SEVERITY = {  # what a person must do: critical pages someone, warning waits for working hours
    "region_down": "critical",
    "site_down": "critical",
    "gateway_offline": "critical",
    "down": "critical",
    "on_backup": "warning",
    "flapping": "warning",
    "congested": "warning",
    "loss": "warning",
    "latency": "warning",
    "baseline": "info",
}
KNOWN_KINDS = tuple(SEVERITY)  # the rules a route may name (alerts.rules.KINDS and baseline)
SEVERITIES = ("critical", "warning", "info")
STYLES = ("webhook", "slack", "email", "pagerduty")
FILTERS = ("severity", "rule", "org")


class RouteError(ValueError):
    """A route that cannot be followed: which one, and why (no secret: receivers by position)."""


@dataclass(frozen=True)
class Route:
    """What one receiver takes: each filter empty means any."""

    severities: frozenset[str] = frozenset()
    rules: frozenset[str] = frozenset()
    orgs: frozenset[str] = frozenset()

    def takes(self, kind: str, org_id: str) -> bool:
        return (
            (not self.severities or severity(kind) in self.severities)
            and (not self.rules or kind in self.rules)
            and (not self.orgs or org_id in self.orgs)
        )


def severity(kind: str) -> str:
    return SEVERITY.get(kind, "warning")


def parse_routes(text: str, kinds: tuple[str, ...] = KNOWN_KINDS) -> dict[str, Route]:
    """`receiver: filter ...; ...` -> receiver (a name like `email #1`, or a style) -> Route.
    Raises `RouteError` naming the route and what is wrong with it."""
    routes: dict[str, Route] = {}
    for n, part in enumerate((p.strip() for p in (text or "").split(";")), 1):
        if not part:
            continue
        target, sep, rest = part.partition(":")
        target = re.sub(r"\s+", " ", target.strip().lower())
        if not sep or not re.fullmatch(rf"({'|'.join(STYLES)})( #[1-9][0-9]*)?", target):
            raise RouteError(
                f"route {n} ({part[:60]!r}) does not start with a receiver and a colon"
                f" (a style, {', '.join(STYLES)}, or one of them by number: 'email #1:')"
            )
        if target in routes:
            raise RouteError(f"route {n}: {target!r} is routed twice")
        found: dict[str, frozenset[str]] = {}
        for term in rest.split():
            name, eq, values = term.partition("=")
            if not eq or name not in FILTERS or not values:
                raise RouteError(
                    f"route {n} ({target}): {term!r} is not a filter"
                    f" (allowed: {', '.join(f + '=a,b' for f in FILTERS)})"
                )
            chosen = frozenset(v.strip() for v in values.split(",") if v.strip())
            allowed = {"severity": SEVERITIES, "rule": kinds}.get(name)
            unknown = sorted(chosen - set(allowed)) if allowed else []
            if unknown:
                raise RouteError(
                    f"route {n} ({target}): {name} {', '.join(unknown)} is unknown"
                    f" (allowed: {', '.join(allowed)})"
                )
            found[name] = found.get(name, frozenset()) | chosen
        if not found:
            raise RouteError(f"route {n} ({target}) has no filter: it would take everything")
        routes[target] = Route(
            found.get("severity", frozenset()),
            found.get("rule", frozenset()),
            found.get("org", frozenset()),
        )
    return routes


def check_targets(routes: dict[str, Route], configured: list[str]) -> None:
    """`RouteError` for a route naming a receiver that is not configured (by its name)."""
    names = set(configured) | {n.split(" #")[0] for n in configured}
    for target in routes:
        if target not in names:
            raise RouteError(
                f"a route names {target!r}, which is not configured"
                f" (configured: {', '.join(configured) or 'none'})"
            )


def route_for(routes: dict[str, Route], name: str) -> Route | None:
    """The route of the receiver named `name` (`email #1`): its own, else its style's."""
    return routes.get(name) or routes.get(name.split(" #", 1)[0])
