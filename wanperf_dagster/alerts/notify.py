"""Where alerts go: receivers named in the environment: webhooks (a generic JSON body, or Slack's
incoming-webhook format), PagerDuty (Events API v2) and email (SMTP with STARTTLS), each taking
what its route lets through (`routing`). A webhook URL or a routing key is a secret (Slack's
URLs carry their token): messages and errors name a receiver by its position (`webhook #2`,
`pagerduty #1`), never its URL or key."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from urllib.parse import quote, urlencode

import requests

from wanperf_dagster.alert_routes import Route, check_targets, parse_routes, route_for, severity

from . import mail, pagerduty
from .mail import EmailConfig
from .rules import Incident

EMOJI = {"alert": ":red_circle:", "repeat": ":repeat:", "recovered": ":large_green_circle:"}
TITLE = {
    "region_down": "region down",
    "site_down": "site down",
    "down": "circuit down",
    "congested": "circuit congested",
    "flapping": "circuit flapping",
    "loss": "packet loss",
    "latency": "high latency",
    "on_backup": "site on backup",
    "gateway_offline": "gateway offline",
    "baseline": "off its baseline",
}


class NotifyError(RuntimeError):
    """A webhook did not take a message (its position and the HTTP status or error)."""


@dataclass(frozen=True)
class Destination:
    name: str  # "webhook #1", "slack #1", "pagerduty #1", "email #1": what logs and errors show
    url: str = field(repr=False)  # the webhook's, PagerDuty's Events API, the SMTP relay's
    style: str  # "json", "slack", "pagerduty" or "email"
    route: Route | None = None  # what it takes; None: everything
    secret: str = field(default="", repr=False)  # PagerDuty's routing key
    email: EmailConfig | None = None

    def takes(self, incident: Incident, org_id: str) -> bool:
        return self.route is None or self.route.takes(incident.kind, org_id)


def destinations(
    json_urls: tuple[str, ...],
    slack_urls: tuple[str, ...],
    pagerduty_keys: tuple[str, ...] = (),
    pagerduty_url: str = pagerduty.EVENTS_URL,
    email_config: EmailConfig | None = None,
    routes: str = "",
) -> list[Destination]:
    """Every receiver configured, each with its route; `RouteError` for a route that names a
    receiver not configured (by its name: no URL, no key)."""
    made = (
        [Destination(f"webhook #{n}", u, "json") for n, u in enumerate(json_urls, 1)]
        + [Destination(f"slack #{n}", u, "slack") for n, u in enumerate(slack_urls, 1)]
        + [
            Destination(f"pagerduty #{n}", pagerduty_url, "pagerduty", secret=k)
            for n, k in enumerate(pagerduty_keys, 1)
        ]
    )
    if email_config is not None:
        made.append(Destination("email #1", email_config.url, "email", email=email_config))
    table = parse_routes(routes)
    check_targets(table, [d.name for d in made])
    return [
        Destination(d.name, d.url, d.style, route_for(table, d.name), d.secret, d.email)
        for d in made
    ]


def destinations_from(settings) -> list[Destination]:
    """The receivers `Settings` (`WANPERF_ALERT_*`) configure, routed."""
    relay = None
    if settings.alert_smtp_url:
        relay = EmailConfig(
            settings.alert_smtp_url,
            tuple(settings.alert_email_to),
            settings.alert_email_from,
            settings.alert_smtp_password,
            settings.alert_smtp_ca_file,
        )
    return destinations(
        tuple(settings.alert_webhooks),
        tuple(settings.alert_slack_webhooks),
        tuple(settings.alert_pagerduty_keys),
        settings.alert_pagerduty_url,
        relay,
        settings.alert_routes,
    )


def incident_links(dashboard_url: str, dagster_url: str, incident: Incident) -> dict[str, str]:
    """Where a person looks next: the site's page on the dashboard (a region's sites, for a
    region's incident), the asset in Dagster."""
    if incident.kind == "region_down":
        region = incident.site_id.split(":", 1)[1]
        page = f"{dashboard_url}/search?{urlencode({'region': region})}"
    else:
        page = f"{dashboard_url}/site/{quote(incident.site_id, safe='')}"
    return {"dashboard": page, "dagster": f"{dagster_url}/assets/wan_alerts"}


def covering(incident: Incident) -> tuple[int, int]:
    """(circuits, sites) an incident speaks for: itself, or those it groups."""
    from .grouping import circuits_covered

    return circuits_covered(incident), max(len(incident.sites), 1)


def _iso(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def message(
    event: str, incident: Incident, at: int, links: dict[str, str], idempotency_key: str = ""
) -> dict:
    """The generic JSON body: what happened, where, since when, and where to look; and the
    message's idempotency key (a message sent twice carries the same one: dedupe on it)."""
    return {
        "event": event,  # "alert", "repeat-N" (still open, told again) or "recovered"
        **asdict(incident),
        "key": incident.key,
        "idempotency_key": idempotency_key,
        "title": TITLE[incident.kind],
        "severity": severity(incident.kind),
        "circuits": covering(incident)[0],
        "site_count": covering(incident)[1],
        "since_iso": _iso(incident.since),
        "at": at,
        "at_iso": _iso(at),
        "links": links,
    }


def slack_escape(text: str) -> str:
    """Text from the source made inert in Slack's mrkdwn: `&`, `<` and `>` as entities (so
    `<!channel>` pings no one and `<https://x|Click>` disguises no link), and the formatting
    characters that would open bold, italics, strikes or code fenced off with a zero-width
    joiner."""
    text = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for mark in ("*", "_", "~", "`"):
        text = text.replace(mark, mark + "\u200d")
    return text


def _slack_link(url: str, label: str) -> str:
    """`<url|label>` with the url's own `|`, `<`, `>` and spaces percent-encoded."""
    return "<" + quote(url, safe=":/?#[]@!$&'()*+,;=%") + "|" + slack_escape(label) + ">"


def slack_message(
    event: str, incident: Incident, at: int, links: dict[str, str], idempotency_key: str = ""
) -> dict:
    """Slack's incoming-webhook body: one line of mrkdwn text with the links; every text from
    the source escaped (`slack_escape`)."""
    where = slack_escape(incident.site_name)
    if incident.circuit_id:
        where += f" · `{slack_escape(incident.circuit_id)}`"
    if event == "alert" or event.startswith("repeat"):
        mark, still = (EMOJI["alert"], "") if event == "alert" else (EMOJI["repeat"], "still: ")
        head = f"{mark} *{still}{TITLE[incident.kind]}*: {where} — {slack_escape(incident.detail)}"
        circuits, sites = covering(incident)
        if incident.covers:
            head += f" [{circuits} circuit{'s' if circuits != 1 else ''}"
            head += f", {sites} site{'s' if sites != 1 else ''}]"
        head += f" (since {_iso(incident.since)})"
    else:
        head = f"{EMOJI[event]} *recovered: {TITLE[incident.kind]}*: {where} (at {_iso(at)})"
    refs = " · ".join(_slack_link(url, label) for label, url in links.items())
    return {"text": head + (f"\n{refs}" if refs else "")}


def send(
    destination: Destination,
    event: str,
    incident: Incident,
    at: int,
    links: dict[str, str],
    session: requests.Session | None = None,
    timeout: float = 10.0,
    idempotency_key: str = "",
) -> None:
    """Hand one message to one receiver; `NotifyError` naming it by position when it does not
    take it."""
    if destination.style == "email":
        composed = mail.compose(
            event,
            incident,
            at,
            links,
            idempotency_key,
            destination.email,
            TITLE[incident.kind],
            severity(incident.kind),
            covering(incident),
        )
        mail.deliver(composed, destination.email, destination.name, timeout)
        return
    if destination.style == "pagerduty":
        body = pagerduty.event(
            event,
            incident,
            at,
            links,
            destination.secret,
            TITLE[incident.kind],
            severity(incident.kind),
            covering(incident),
        )
    else:
        build = slack_message if destination.style == "slack" else message
        body = build(event, incident, at, links, idempotency_key)
    http = session or requests
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    try:
        response = http.post(
            destination.url,
            json=body,
            headers=headers,
            timeout=(min(timeout, 5.0), timeout),
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        raise NotifyError(f"{destination.name}: {type(exc).__name__}") from None
    if not 200 <= response.status_code < 300:
        raise NotifyError(f"{destination.name}: HTTP {response.status_code}")
