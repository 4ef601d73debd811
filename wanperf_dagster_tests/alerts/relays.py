"""Receivers the alert tests send to for real, on loopback: an SMTP relay (aiosmtpd) that speaks
STARTTLS with a certificate of a CA made for the test and takes one login, and a PagerDuty
Events API v2 endpoint that checks each event as PagerDuty documents it."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading
from email import message_from_bytes, policy
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from harness.receivers import free_port


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA, and a certificate it signs for 127.0.0.1: (ca.pem, cert.pem, key.pem)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wanperf test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


class SmtpRelay:
    """A relay on a loopback port: STARTTLS required (unless `tls=False`), one user and password;
    `mails` holds what it took, each with whether it came over TLS."""

    def __init__(self, folder: Path, user="alerts", password="s3cret-Pw", tls: bool = True):
        self.ca, cert, key = make_certificates(folder)
        self.mails: list[tuple[Message, bool, list[str]]] = []  # (mail, over TLS, recipients)
        self.logins: list[str] = []
        relay = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                mail = message_from_bytes(
                    envelope.original_content or envelope.content, policy=policy.default
                )
                relay.mails.append((mail, session.ssl is not None, list(envelope.rcpt_tos)))
                return "250 OK"

        def authenticate(server, session, envelope, mechanism, auth_data):
            ok = auth_data.login == user.encode() and auth_data.password == password.encode()
            if ok:
                relay.logins.append(user)
            return AuthResult(success=ok, handled=False)

        context = None
        if tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert, key)
        self.port = free_port()
        self.controller = Controller(
            Handler(),
            hostname="127.0.0.1",
            port=self.port,
            tls_context=context,
            require_starttls=tls,
            authenticator=authenticate,
            auth_require_tls=tls,
            auth_exclude_mechanism=["CRAM-MD5"],
        )
        self.controller.start()
        self.url = f"smtp://{user}@127.0.0.1:{self.port}"

    def close(self) -> None:
        self.controller.stop()


class PagerDutyEndpoint:
    """PagerDuty's Events API v2 on a loopback port: a valid event answers 202, an invalid one
    400 (as PagerDuty does); `answers` can be set to a list of statuses to give first."""

    REQUIRED = ("summary", "source", "severity")

    def __init__(self):
        self.events: list[dict] = []
        self.rejected: list[str] = []
        self.answers: list[int] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                event = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                forced = endpoint.answers.pop(0) if endpoint.answers else None
                problem = endpoint.invalid(event)
                status = forced or (400 if problem else 202)
                if status == 202:
                    endpoint.events.append(event)
                elif problem:
                    endpoint.rejected.append(problem)
                body = json.dumps({"status": "success" if status == 202 else "invalid event"})
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/v2/enqueue"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def invalid(self, event: dict) -> str:
        """What PagerDuty would refuse the event for ("" when it would take it)."""
        if not isinstance(event.get("routing_key"), str) or len(event["routing_key"]) != 32:
            return "routing_key must be a 32-character integration key"
        action = event.get("event_action")
        if action not in ("trigger", "acknowledge", "resolve"):
            return f"event_action {action!r}"
        if not 0 < len(str(event.get("dedup_key", ""))) <= 255:
            return "dedup_key must be 1 to 255 characters"
        if action != "trigger":
            return ""
        payload = event.get("payload") or {}
        missing = [f for f in self.REQUIRED if not payload.get(f)]
        if missing:
            return f"payload lacks {', '.join(missing)}"
        if payload["severity"] not in ("critical", "error", "warning", "info"):
            return f"severity {payload['severity']!r}"
        if len(payload["summary"]) > 1024:
            return "summary over 1024 characters"
        if "timestamp" in payload:
            dt.datetime.fromisoformat(payload["timestamp"])
        for link in event.get("links", []):
            if not str(link.get("href", "")).startswith(("http://", "https://")):
                return "a link without href"
        return ""

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
