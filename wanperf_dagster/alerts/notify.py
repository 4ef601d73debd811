"""Where alerts go: webhooks named in the environment, as a generic JSON body or in Slack's
incoming-webhook format. A webhook URL is a secret (Slack's carry their token): messages and
errors name a webhook by its position (`webhook #2`), never its URL."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from urllib.parse import quote, urlencode

import requests

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
}


class NotifyError(RuntimeError):
    """A webhook did not take a message (its position and the HTTP status or error)."""


@dataclass(frozen=True)
class Destination:
    name: str  # "webhook #1", "slack #1": what logs and errors show
    url: str
    style: str  # "json" or "slack"


def destinations(json_urls: tuple[str, ...], slack_urls: tuple[str, ...]) -> list[Destination]:
    return [Destination(f"webhook #{n}", u, "json") for n, u in enumerate(json_urls, 1)] + [
        Destination(f"slack #{n}", u, "slack") for n, u in enumerate(slack_urls, 1)
    ]


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
