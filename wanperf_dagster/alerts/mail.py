"""Alerts by email, through an SMTP relay that speaks STARTTLS (or TLS from the start, smtps).

Nothing is sent in clear: a relay that offers no STARTTLS is refused, and its certificate is
checked (against `WANPERF_ALERT_SMTP_CA_FILE` when the relay's CA is a private one). The
password comes from `WANPERF_ALERT_SMTP_PASSWORD` and is never in a message or an error. Each
message's `Message-ID` is made of its idempotency key, so one a kill left in flight, sent
again, is the same message to a mail system that dedupes."""

from __future__ import annotations

import datetime as dt
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import unquote, urlsplit

from .rules import Incident

DEFAULT_PORTS = {"smtp": 587, "smtps": 465}


@dataclass(frozen=True)
class EmailConfig:
    """One relay and who is told: what `WANPERF_ALERT_SMTP_URL` and its companions say."""

    url: str = field(repr=False)  # smtp://[user@]host[:port] or smtps://...
    to: tuple[str, ...]
    sender: str
    password: str = field(default="", repr=False)
    ca_file: str | None = None

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or DEFAULT_PORTS[parts.scheme]

    @property
    def user(self) -> str:
        return unquote(urlsplit(self.url).username or "")


def compose(
    event: str,
    incident: Incident,
    at: int,
    links: dict[str, str],
    idempotency_key: str,
    config: EmailConfig,
    title: str,
    severity: str,
    covering: tuple[int, int],
) -> EmailMessage:
    """A plain-text mail: the subject says what and where, the body since when, what it
    covers and where to look."""
    where = incident.site_name + (f" · {incident.circuit_id}" if incident.circuit_id else "")
    if event == "recovered":
        subject = f"[wanperf] RECOVERED {title}: {where}"
    else:
        still = "" if event == "alert" else "STILL "
        subject = f"[wanperf] {still}{severity.upper()} {title}: {where}"
    circuits, sites = covering
    lines = [
        f"{title}: {where}",
        "",
        f"what:     {incident.detail}",
        f"severity: {severity}",
        f"since:    {_iso(incident.since)}",
        f"as of:    {_iso(at)}" + (" (recovered)" if event == "recovered" else ""),
    ]
    if incident.covers:
        lines.append(f"covers:   {circuits} circuit(s), {sites} site(s)")
    if incident.sites:
        lines.append(f"sites:    {', '.join(incident.sites)}")
    lines += ["", *(f"{label}: {url}" for label, url in links.items())]
    lines += ["", f"incident {incident.key} · message {event}"]
    mail = EmailMessage()
    mail["Subject"] = " ".join(subject.split())[:200]  # no header folding tricks from names
    mail["From"] = config.sender
    mail["To"] = ", ".join(config.to)
    mail["Date"] = formatdate(at, usegmt=True)
    domain = config.sender.rsplit("@", 1)[-1] or "wanperf.invalid"
    mail["Message-ID"] = f"<{idempotency_key or 'wanperf'}@{domain}>"
    mail["X-Wanperf-Incident"] = incident.key
    mail.set_content("\n".join(lines) + "\n")
    return mail


def _iso(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def deliver(mail: EmailMessage, config: EmailConfig, name: str, timeout: float) -> None:
    """Hand the mail to the relay over TLS; `NotifyError` naming the receiver and what failed
    (never the password, never the relay's URL)."""
    from .notify import NotifyError

    context = ssl.create_default_context(cafile=config.ca_file)
    scheme = urlsplit(config.url).scheme
    try:
        if scheme == "smtps":
            smtp = smtplib.SMTP_SSL(config.host, config.port, timeout=timeout, context=context)
        else:
            smtp = smtplib.SMTP(config.host, config.port, timeout=timeout)
        with smtp:
            smtp.ehlo()
            if scheme == "smtp":
                if not smtp.has_extn("starttls"):
                    raise NotifyError(f"{name}: the relay offers no STARTTLS: not sent in clear")
                smtp.starttls(context=context)
                smtp.ehlo()
            if config.user:
                smtp.login(config.user, config.password)
            refused = smtp.send_message(mail)
    except NotifyError:
        raise
    except smtplib.SMTPAuthenticationError as exc:
        raise NotifyError(f"{name}: the relay refused the login (SMTP {exc.smtp_code})") from None
    except smtplib.SMTPResponseException as exc:
        raise NotifyError(f"{name}: SMTP {exc.smtp_code}") from None
    except ssl.SSLError as exc:
        raise NotifyError(f"{name}: TLS failed ({exc.reason or type(exc).__name__})") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise NotifyError(f"{name}: {type(exc).__name__}") from None
    if refused:
        raise NotifyError(f"{name}: {len(refused)} recipient(s) refused")
