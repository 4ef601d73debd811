"""Email and PagerDuty receivers, for real on loopback (an SMTP relay speaking STARTTLS, an Events
API v2 endpoint checking each event), through the outbox on a real Redis; and routes by
severity, rule and org."""

from __future__ import annotations

from dataclasses import replace

import pytest

from wanperf_dagster import alerts
from wanperf_dagster.alert_routes import RouteError
from wanperf_dagster.alerts.mail import EmailConfig
from wanperf_dagster.settings import Settings, SettingsError
from wanperf_dagster.storage import AssetStore

from .relays import PagerDutyEndpoint, SmtpRelay

pytestmark = pytest.mark.storage

T0 = 1_764_115_200
ORG = "org-receivers"
ROUTING_KEY = "R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY12"  # 32 characters, like PagerDuty's
DOWN = alerts.Incident("down", "s1", "PARIS-1", "aa:ge-0/0/0", T0, 10.0, "down for 10 min")
BUSY = alerts.Incident("congested", "s2", "LYON-2", "bb:ge-0/0/1", T0, 45.0, "above 90 % 45 min")


def _dispatch(storage, targets, at, incidents, org=ORG, **options):
    return alerts.dispatch(storage, org, incidents, targets, at, sleep=lambda s: None, **options)


@pytest.fixture
def relay(tmp_path):
    relay = SmtpRelay(tmp_path)
    yield relay
    relay.close()


def _mail_config(relay, **changes) -> EmailConfig:
    config = EmailConfig(
        relay.url,
        ("noc@example.com", "oncall@example.com"),
        "wanperf@example.com",
        "s3cret-Pw",
        str(relay.ca),
    )
    return replace(config, **changes)


def test_an_incident_is_mailed_once_over_starttls_and_its_recovery_once(redis_client, relay):
    storage = AssetStore(redis_client)
    targets = alerts.destinations((), (), email_config=_mail_config(relay))
    links = {"dashboard": "http://noc.example/site/s1"}
    for k in range(3):  # three evaluations while it is open: one mail
        report = _dispatch(storage, targets, T0 + 600 * k, [DOWN], links=lambda i: links)
        assert report.errors == []
    assert len(relay.mails) == 1
    mail, over_tls, recipients = relay.mails[0]
    assert over_tls and relay.logins == ["alerts"]
    assert recipients == ["noc@example.com", "oncall@example.com"]
    assert mail["Subject"] == "[wanperf] CRITICAL circuit down: PARIS-1 · aa:ge-0/0/0"
    text = mail.get_payload(decode=True).decode()
    assert "down for 10 min" in text and "http://noc.example/site/s1" in text
    assert mail["X-Wanperf-Incident"] == DOWN.key
    first_id = mail["Message-ID"]
    _dispatch(storage, targets, T0 + 1800, [])  # it cleared
    _dispatch(storage, targets, T0 + 2400, [])
    assert len(relay.mails) == 2
    recovered = relay.mails[1][0]
    assert recovered["Subject"] == "[wanperf] RECOVERED circuit down: PARIS-1 · aa:ge-0/0/0"
    assert recovered["Message-ID"] != first_id  # another message, its own idempotency key


def test_what_is_not_safe_is_not_sent_and_the_password_never_shows(tmp_path, relay):
    def attempt(config) -> str:
        target = alerts.destinations((), (), email_config=config)[0]
        with pytest.raises(alerts.NotifyError) as caught:
            alerts.notify.send(target, "alert", DOWN, T0, {}, timeout=5)
        return str(caught.value)

    wrong = attempt(_mail_config(relay, password="not-the-password"))
    assert wrong == "email #1: the relay refused the login (SMTP 535)"
    assert "not-the-password" not in wrong
    # the relay's certificate is from a CA the system does not know: not trusted, not sent
    assert attempt(_mail_config(relay, ca_file=None)).startswith("email #1: TLS failed")
    (tmp_path / "plain").mkdir()
    plain = SmtpRelay(tmp_path / "plain", tls=False)
    try:
        refused = attempt(_mail_config(plain))
        assert refused == "email #1: the relay offers no STARTTLS: not sent in clear"
        assert plain.mails == []
    finally:
        plain.close()
    assert relay.mails == []


@pytest.fixture
def pagerduty():
    endpoint = PagerDutyEndpoint()
    yield endpoint
    endpoint.close()


def test_pagerduty_is_triggered_repeated_and_resolved_under_one_dedup_key(redis_client, pagerduty):
    storage = AssetStore(redis_client)
    targets = alerts.destinations((), (), (ROUTING_KEY,), pagerduty.url)
    links = lambda i: {"dashboard": "http://noc.example/site/s1"}  # noqa: E731
    for k in range(8):  # open 70 minutes, a repeat each hour
        detail = f"down for {10 + 10 * k} min"
        report = _dispatch(
            storage,
            targets,
            T0 + 600 * k,
            [replace(DOWN, detail=detail)],
            links=links,
            repeat_every=3600,
        )
        assert report.errors == []
    _dispatch(storage, targets, T0 + 4800, [], repeat_every=3600)
    assert pagerduty.rejected == []
    actions = [e["event_action"] for e in pagerduty.events]
    assert actions == ["trigger", "trigger", "resolve"]
    assert len({e["dedup_key"] for e in pagerduty.events}) == 1
    first, repeat = pagerduty.events[0], pagerduty.events[1]
    assert first["payload"]["severity"] == "critical"
    assert first["payload"]["summary"] == "circuit down: PARIS-1 · aa:ge-0/0/0: down for 10 min"
    assert repeat["payload"]["summary"].endswith("down for 70 min")  # its text as of then
    assert first["links"] == [{"href": "http://noc.example/site/s1", "text": "dashboard"}]


def test_pagerduty_refusals_are_retried_and_named_without_the_key(redis_client, pagerduty):
    storage = AssetStore(redis_client)
    targets = alerts.destinations((), (), (ROUTING_KEY,), pagerduty.url)
    pagerduty.answers = [429, 502]  # rate-limited, then a bad gateway: the third try takes it
    report = _dispatch(storage, targets, T0, [DOWN])
    assert report.errors == [] and len(pagerduty.events) == 1
    pagerduty.answers = [400] * 3
    report = _dispatch(storage, targets, T0, [DOWN, BUSY])  # one message: BUSY's alert
    assert report.errors == ["pagerduty #1: HTTP 400"]
    assert ROUTING_KEY not in repr(targets) and ROUTING_KEY not in str(report)


class Recorder:
    def __init__(self):
        self.sent: list[tuple[str, str, str]] = []

    def __call__(self, destination, event, incident, at, links, **kw):
        self.sent.append((destination.name, event, incident.key))


def test_routes_send_each_receiver_what_it_takes_and_its_recoveries(redis_client):
    storage = AssetStore(redis_client)
    targets = alerts.destinations(
        ("http://a.invalid/all", "http://b.invalid/org-b"),
        ("http://c.invalid/slack",),
        (ROUTING_KEY,),
        routes="pagerduty #1: severity=critical; slack: rule=congested,loss; webhook #2: org=org-b",
    )
    for org in (ORG, "org-b"):
        recorder = Recorder()
        alerts.dispatch(storage, org, [DOWN, BUSY], targets, T0, sender=recorder)
        alerts.dispatch(storage, org, [], targets, T0 + 600, sender=recorder)
        expected = {
            ("webhook #1", DOWN.key),
            ("webhook #1", BUSY.key),
            ("pagerduty #1", DOWN.key),  # critical
            ("slack #1", BUSY.key),  # congested
        } | ({("webhook #2", DOWN.key), ("webhook #2", BUSY.key)} if org == "org-b" else set())
        for event in ("alert", "recovered"):
            told = {(name, key) for name, e, key in recorder.sent if e == event}
            assert told == expected, (org, event)


@pytest.mark.parametrize(
    ("routes", "says"),
    [
        ("pagerduty: severity=urgent", "severity urgent is unknown"),
        ("slack #1: rule=dwn", "rule dwn is unknown"),
        ("email: everything", "'everything' is not a filter"),
        ("sms #1: severity=critical", "does not start with a receiver"),
        ("slack: org=a; slack: org=b", "'slack' is routed twice"),
        ("webhook #1:", "has no filter"),
    ],
)
def test_a_route_that_cannot_be_followed_is_refused_at_start(routes, says):
    with pytest.raises(SettingsError, match=f"WANPERF_ALERT_ROUTES has a bad route: .*{says}"):
        Settings.from_env({"WANPERF_ALERT_ROUTES": routes})


def test_a_route_to_a_receiver_not_configured_is_refused_by_name():
    with pytest.raises(RouteError, match="names 'pagerduty #2', which is not configured"):
        alerts.destinations((), (), (ROUTING_KEY,), routes="pagerduty #2: severity=critical")
    with pytest.raises(SettingsError, match="names 'email', which is not configured") as caught:
        Settings.from_env(
            {"WANPERF_ALERT_PAGERDUTY_KEYS": ROUTING_KEY, "WANPERF_ALERT_ROUTES": "email: org=x"}
        )
    assert ROUTING_KEY not in str(caught.value)


def test_the_mail_settings_are_checked_and_the_secrets_kept_out_of_sight(tmp_path):
    errors = {
        "WANPERF_ALERT_SMTP_URL": "smtp://alerts:hunter2@relay.example:587",
        "WANPERF_ALERT_EMAIL_TO": "noc@example.com, not-an-address",
        "WANPERF_ALERT_SMTP_CA_FILE": str(tmp_path / "missing.pem"),
    }
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(errors)
    said = str(caught.value)
    assert "hunter2" not in said and "put it in WANPERF_ALERT_SMTP_PASSWORD" in said
    assert "'not-an-address' is not an email address" in said and "is not a file" in said
    with pytest.raises(SettingsError, match="WANPERF_ALERT_EMAIL_TO is not: who is told"):
        Settings.from_env({"WANPERF_ALERT_SMTP_URL": "smtp://relay.example"})
    with pytest.raises(SettingsError, match="WANPERF_ALERT_EMAIL_FROM must be the sender"):
        Settings.from_env(
            {"WANPERF_ALERT_SMTP_URL": "smtp://relay.example", "WANPERF_ALERT_EMAIL_TO": "a@b.fr"}
        )
    settings = Settings.from_env(
        {
            "WANPERF_ALERT_SMTP_URL": "smtps://alerts@relay.example",
            "WANPERF_ALERT_SMTP_PASSWORD": "hunter2",
            "WANPERF_ALERT_EMAIL_TO": "noc@example.com",
            "WANPERF_ALERT_EMAIL_FROM": "wanperf@example.com",
            "WANPERF_ALERT_PAGERDUTY_KEYS": ROUTING_KEY,
            "WANPERF_ALERT_ROUTES": "email: severity=warning",
        }
    )
    (mail, page) = sorted(alerts.destinations_from(settings), key=lambda d: d.name)
    assert (mail.name, mail.email.port, mail.email.user) == ("email #1", 465, "alerts")
    assert mail.route.severities == {"warning"} and page.route is None
    for secret in ("hunter2", ROUTING_KEY):
        assert secret not in repr(settings) and secret not in repr([mail, page])
